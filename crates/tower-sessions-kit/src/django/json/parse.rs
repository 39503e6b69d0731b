//! JSON read as Django reads it: `json.loads(data.decode("latin-1"))` (Django's `JSONSerializer.loads`).
//!
//! Python's reader differs from `serde_json`'s in what it accepts — `NaN` and `Infinity`, integers of any
//! size, lone surrogates, every byte as the Latin-1 character of the same number — so this is a small
//! reader of its own that follows CPython's `json` scanner rule for rule, and reports what a
//! `serde_json::Value` cannot hold as an error instead of changing it.

use serde_json::{Map, Number, Value};

use super::{JsonError, JsonErrorKind};

/// How deep arrays and objects may nest. Python stops at its recursion limit (about 1000); session data
/// is nowhere near this, and the bound keeps hostile input from exhausting the stack.
pub const MAX_DEPTH: usize = 256;

/// Reads `bytes` as Django does: each byte is the Latin-1 character of the same number (Django's
/// `decode("latin-1")`; the JSON Django writes is pure ASCII, so this only matters for bytes another
/// writer put there), then Python's `json.loads` rules:
///
/// - whitespace is space, tab, CR and LF; one value, then only whitespace;
/// - strings may not hold raw control characters (U+0000 to U+001F); escapes are `\" \\ \/ \b \f \n \r
///   \t \uXXXX`, a surrogate pair of escapes is one character;
/// - numbers: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`; with a fraction or exponent a float,
///   otherwise an integer;
/// - an object's repeated key keeps its last value.
///
/// Values Python reads but a `serde_json::Value` cannot hold are errors
/// ([`JsonErrorKind::Unrepresentable`]): `NaN`, `Infinity`, `-Infinity`, a float that overflows to
/// infinity (`1e400`), an integer outside `i64::MIN..=u64::MAX`, a lone surrogate escape.
pub fn from_slice(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut parser = Parser { bytes, pos: 0 };
    parser.skip_whitespace();
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos != bytes.len() {
        return Err(parser.error(JsonErrorKind::Syntax("extra data after the value")));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, kind: JsonErrorKind) -> JsonError {
        JsonError {
            offset: self.pos,
            kind,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn starts_with(&self, literal: &[u8]) -> bool {
        self.bytes
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(literal))
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.string().map(Value::String)
            }
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'n') if self.starts_with(b"null") => {
                self.pos += 4;
                Ok(Value::Null)
            }
            Some(b't') if self.starts_with(b"true") => {
                self.pos += 4;
                Ok(Value::Bool(true))
            }
            Some(b'f') if self.starts_with(b"false") => {
                self.pos += 5;
                Ok(Value::Bool(false))
            }
            Some(b'N') if self.starts_with(b"NaN") => {
                Err(self.error(JsonErrorKind::Unrepresentable("NaN")))
            }
            Some(b'I') if self.starts_with(b"Infinity") => {
                Err(self.error(JsonErrorKind::Unrepresentable("Infinity")))
            }
            Some(b'-') if self.starts_with(b"-Infinity") => {
                Err(self.error(JsonErrorKind::Unrepresentable("-Infinity")))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error(JsonErrorKind::Syntax("expecting a value"))),
        }
    }

    fn enter(&self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            Err(self.error(JsonErrorKind::TooDeep))
        } else {
            Ok(())
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.enter(depth)?;
        self.pos += 1;
        let mut members = Map::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error(JsonErrorKind::Syntax(
                    "expecting a property name in double quotes",
                )));
            }
            self.pos += 1;
            let key = self.string()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error(JsonErrorKind::Syntax("expecting ':'")));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value(depth)?;
            members.insert(key, value);
            self.skip_whitespace();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                _ => return Err(self.error(JsonErrorKind::Syntax("expecting ',' or '}'"))),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.enter(depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                _ => return Err(self.error(JsonErrorKind::Syntax("expecting ',' or ']'"))),
            }
        }
    }

    /// The rest of a string whose opening quote was consumed.
    fn string(&mut self) -> Result<String, JsonError> {
        let mut text = String::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.error(JsonErrorKind::Syntax("unterminated string")));
            };
            self.pos += 1;
            match byte {
                b'"' => return Ok(text),
                b'\\' => self.escape(&mut text)?,
                0x00..=0x1f => {
                    self.pos -= 1;
                    return Err(self.error(JsonErrorKind::Syntax(
                        "invalid control character in a string",
                    )));
                }
                // Latin-1: the byte is the code point.
                _ => text.push(char::from(byte)),
            }
        }
    }

    fn escape(&mut self, text: &mut String) -> Result<(), JsonError> {
        let Some(byte) = self.peek() else {
            return Err(self.error(JsonErrorKind::Syntax("unterminated string")));
        };
        self.pos += 1;
        let simple = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(text),
            _ => {
                self.pos -= 2;
                return Err(self.error(JsonErrorKind::Syntax("invalid \\escape")));
            }
        };
        text.push(simple);
        Ok(())
    }

    /// `XXXX` of `\uXXXX`, joined with a following `\uXXXX` low surrogate when it is a high one.
    fn unicode_escape(&mut self, text: &mut String) -> Result<(), JsonError> {
        let first = self.hex4()?;
        let code = if (0xd800..=0xdbff).contains(&first) && self.starts_with(b"\\u") {
            let mark = self.pos;
            self.pos += 2;
            let second = self.hex4()?;
            if (0xdc00..=0xdfff).contains(&second) {
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            } else {
                // Python keeps the high surrogate alone and reads the next escape on its own.
                self.pos = mark;
                first
            }
        } else {
            first
        };
        match char::from_u32(code) {
            Some(c) => {
                text.push(c);
                Ok(())
            }
            None => Err(self.error(JsonErrorKind::Unrepresentable("a lone surrogate"))),
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .filter(|digits| digits.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| self.error(JsonErrorKind::Syntax("invalid \\uXXXX escape")))?;
        let code = digits.iter().fold(0_u32, |code, &digit| {
            code * 16 + char::from(digit).to_digit(16).unwrap_or(0)
        });
        self.pos += 4;
        Ok(code)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => {
                self.pos = start;
                return Err(self.error(JsonErrorKind::Syntax("expecting a value")));
            }
        }
        let mut is_float = false;
        if self.peek() == Some(b'.') && matches!(self.bytes.get(self.pos + 1), Some(b'0'..=b'9')) {
            self.pos += 1;
            self.digits();
            is_float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let mark = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some(b'-' | b'+')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                // Not an exponent after all: Python leaves the `e` to fail as extra data.
                self.pos = mark;
            } else {
                is_float = true;
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos]).unwrap_or("");
        let number = if is_float {
            text.parse::<f64>().ok().and_then(Number::from_f64)
        } else if text.starts_with('-') {
            text.parse::<i64>().ok().map(Number::from)
        } else {
            text.parse::<u64>().ok().map(Number::from)
        };
        match number {
            Some(number) => Ok(Value::Number(number)),
            None => {
                self.pos = start;
                Err(self.error(JsonErrorKind::Unrepresentable(if is_float {
                    "a float beyond the f64 range"
                } else {
                    "an integer beyond i64::MIN..=u64::MAX"
                })))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(input: &str) -> JsonErrorKind {
        match from_slice(input.as_bytes()) {
            Err(error) => error.kind,
            Ok(value) => panic!("{input:?} parsed as {value}"),
        }
    }

    #[test]
    fn reads_what_python_reads() {
        let cases = [
            ("-0", json!(0)),
            (" 1 ", json!(1)),
            ("1.5E+2", json!(150.0)),
            (r#""\u00E9""#, json!("é")),
            (r#""\ud83d\ude00""#, json!("😀")),
            (r#"{"a":1,"b":2,"a":3}"#, json!({"a": 3, "b": 2})),
            (
                "[1,[2,{\"x\":null}],true,false]",
                json!([1, [2, {"x": null}], true, false]),
            ),
            ("18446744073709551615", json!(u64::MAX)),
            ("-9223372036854775808", json!(i64::MIN)),
            ("1e-400", json!(0.0)),
            (r#""\/""#, json!("/")),
        ];
        for (input, expected) in cases {
            assert_eq!(from_slice(input.as_bytes()).ok(), Some(expected), "{input}");
        }
    }

    #[test]
    fn bytes_are_latin1_characters() {
        // UTF-8 "é" is two bytes; Django decodes them as Latin-1, giving two characters.
        assert_eq!(
            from_slice(b"\"\xc3\xa9\"").ok(),
            Some(json!("\u{c3}\u{a9}"))
        );
    }

    #[test]
    fn rejects_what_python_rejects() {
        for input in [
            "1.",
            "1e",
            "01",
            "[1,]",
            r#"{"a":1,}"#,
            "- 1",
            "",
            "tru",
            r#""a"#,
            "\"\t\"",
            r#""\x""#,
            r#""\u12""#,
            "{1:2}",
            "[1 2]",
            "nul",
        ] {
            assert!(matches!(kind(input), JsonErrorKind::Syntax(_)), "{input:?}");
        }
    }

    #[test]
    fn values_a_serde_value_cannot_hold_are_errors() {
        for input in [
            "NaN",
            "Infinity",
            "-Infinity",
            "[1e400]",
            "18446744073709551616",
            "-9223372036854775809",
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
        ] {
            assert!(
                matches!(kind(input), JsonErrorKind::Unrepresentable(_)),
                "{input:?}"
            );
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(kind(&deep), JsonErrorKind::TooDeep);
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(from_slice(ok.as_bytes()).is_ok());
    }
}
