//! JSON written exactly as Python's `json.dumps(obj, separators=(",", ":"))` writes it (Django's
//! `JSONSerializer`), so a value signed here is the very string Django signs for the same object.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// `value` as compact JSON, byte for byte what Python's `json.dumps(value, separators=(",", ":"))`
/// returns for the equivalent Python object.
///
/// - Strings are ASCII-only (`ensure_ascii`): every character outside `' '..='~'` is a `\uXXXX` escape
///   (lowercase hex), a character beyond U+FFFF a surrogate pair, except `\b \f \n \r \t` and the escaped
///   `"` and `\`. `/` is not escaped.
/// - Floats as Python's `repr`: the shortest digits that read back to the same float, fixed notation with
///   at least one decimal (`100.0`, `0.0001`) when the exponent is in `-4..16`, otherwise scientific
///   with a signed, two-digit-minimum exponent (`1e+16`, `1e-05`, `1.5e+300`).
/// - Objects in the map's iteration order. Python keeps a dict's insertion order; `serde_json`'s default
///   map is sorted by key, so a dict whose keys Django inserted in another order serializes with the same
///   members in key order (Django reads it all the same). With `serde_json`'s `preserve_order` feature the
///   order read by [`from_slice`](super::from_slice) is kept, and a decoded value re-encodes identically.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

/// Appends `value` to `out` as [`to_string`] writes it.
pub fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(number, out),
        Value::String(text) => write_str(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(members) => write_object(members, out),
    }
}

/// Appends an object (a session's data, say) to `out` as [`to_string`] writes it.
pub fn write_object(members: &Map<String, Value>, out: &mut String) {
    out.push('{');
    for (index, (key, item)) in members.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_str(key, out);
        out.push(':');
        write_value(item, out);
    }
    out.push('}');
}

fn write_number(number: &Number, out: &mut String) {
    if let Some(int) = number.as_i64() {
        let _ = write!(out, "{int}");
    } else if let Some(int) = number.as_u64() {
        let _ = write!(out, "{int}");
    } else if let Some(float) = number.as_f64() {
        write_float(float, out);
    }
}

/// A float as Python's `json.dumps` writes it: its `repr`, and `NaN`, `Infinity`, `-Infinity` for the
/// values JSON has no syntax for (Python's default `allow_nan=True`; [`from_slice`](super::from_slice)
/// reads them back as an [`Unrepresentable`](super::JsonErrorKind::Unrepresentable) error, since a
/// `serde_json::Value` cannot hold them).
pub fn float_repr(value: f64) -> String {
    let mut out = String::new();
    write_float(value, &mut out);
    out
}

fn write_float(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("NaN");
        return;
    }
    if value.is_infinite() {
        out.push_str(if value > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if value == 0.0 {
        out.push_str(if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        });
        return;
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, as Python's `repr` does ("d.ddde±x").
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    out.push_str(sign);
    if !(-4..16).contains(&exponent) {
        let _ = write!(
            out,
            "{mantissa}e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.unsigned_abs()
        );
        return;
    }
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if exponent < 0 {
        out.push_str("0.");
        for _ in 1..exponent.unsigned_abs() {
            out.push('0');
        }
        out.push_str(&digits);
        return;
    }
    let integer_len = exponent.unsigned_abs() as usize + 1;
    if digits.len() > integer_len {
        out.push_str(&digits[..integer_len]);
        out.push('.');
        out.push_str(&digits[integer_len..]);
    } else {
        out.push_str(&digits);
        for _ in digits.len()..integer_len {
            out.push('0');
        }
        out.push_str(".0");
    }
}

/// A string as Python's `ensure_ascii` encoder writes it.
fn write_str(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0_u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_follow_python_repr() {
        let cases = [
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1e300, "1e+300"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (2.5, "2.5"),
            (100.0, "100.0"),
            (-12.5, "-12.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_repr(value), expected, "{value:?}");
        }
    }

    #[test]
    fn strings_are_ascii_with_python_escapes() {
        let text = "\u{0}\u{1f}\u{7f}/é\u{2028}😀\"\\\u{8}\u{c}\n\r\t";
        assert_eq!(
            to_string(&json!(text)),
            r#""\u0000\u001f\u007f/\u00e9\u2028\ud83d\ude00\"\\\b\f\n\r\t""#
        );
    }

    #[test]
    fn containers_are_compact() {
        let value = json!({"a": [1, -2, 3.5, null, true, false], "b": {}, "c": []});
        assert_eq!(
            to_string(&value),
            r#"{"a":[1,-2,3.5,null,true,false],"b":{},"c":[]}"#
        );
        assert_eq!(to_string(&json!(u64::MAX)), "18446744073709551615");
        assert_eq!(to_string(&json!(i64::MIN)), "-9223372036854775808");
    }
}
