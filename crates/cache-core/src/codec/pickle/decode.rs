//! The reader: a pickle machine that only builds JSON-like values and never imports or calls anything.
//!
//! Objects live in an arena and the stack and memo hold indices into it, so a list that is memoized empty
//! and filled afterwards (how Python writes every list) is seen filled through every reference, like in
//! Python. The arena becomes a [`Value`] at the end, copying shared objects within the work budget.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

use super::{PickleError, BUDGET_PER_INPUT_BYTE, MAX_DEPTH};

/// Unpickles a JSON-like value (see the [module docs](super)).
pub fn from_pickle(input: &[u8]) -> Result<Value, PickleError> {
    from_pickle_prefix(input).map(|(value, _)| value)
}

/// Unpickles the pickle at the start of `input`, as Python's `pickle.load` reads one object from a file;
/// the value and how many bytes it took (up to and including `STOP`). Django's file cache stores two
/// pickles back to back.
pub(crate) fn from_pickle_prefix(input: &[u8]) -> Result<(Value, usize), PickleError> {
    let mut machine = Machine {
        input,
        pos: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let root = machine.run()?;
    let mut budget = input
        .len()
        .saturating_mul(BUDGET_PER_INPUT_BYTE)
        .saturating_add(1 << 20);
    let value = machine.to_value(root, 0, &mut budget)?;
    Ok((value, machine.pos))
}

/// The data of a pickled Python `bytes` object, as CPython pickles one at protocols 3 to 5 (`SHORT_BINBYTES`,
/// `BINBYTES` or `BINBYTES8`, framed or not, memoized), or `None` for any other pickle. Bytes are not a
/// JSON-like type, so [`from_pickle`] refuses them; the Django backends that pickle every value use this to
/// carry raw bytes.
#[cfg(any(
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "memcached"
))]
pub(crate) fn pickled_bytes(input: &[u8]) -> Option<&[u8]> {
    let mut rest = input.strip_prefix(&[0x80])?;
    let (&protocol, after) = rest.split_first()?;
    if !(3..=5).contains(&protocol) {
        return None;
    }
    rest = after;
    if let Some(framed) = rest.strip_prefix(&[0x95]) {
        rest = framed.get(8..)?;
    }
    let (&op, after) = rest.split_first()?;
    let (len, after) = match op {
        b'C' => (usize::from(*after.first()?), after.get(1..)?),
        b'B' => {
            let len = u32::from_le_bytes(after.get(..4)?.try_into().ok()?);
            (usize::try_from(len).ok()?, after.get(4..)?)
        }
        0x8e => {
            let len = u64::from_le_bytes(after.get(..8)?.try_into().ok()?);
            (usize::try_from(len).ok()?, after.get(8..)?)
        }
        _ => return None,
    };
    let data = after.get(..len)?;
    let mut rest = &after[len..];
    if let Some(memoized) = rest.strip_prefix(&[0x94]) {
        rest = memoized;
    } else if let Some(put) = rest.strip_prefix(b"q") {
        rest = put.get(1..)?;
    }
    (rest == b".").then_some(data)
}

/// One decoded object.
enum Object {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<usize>),
    /// Tuples are immutable in Python; kept apart so `APPEND` on one is refused like Python refuses it.
    Tuple(Vec<usize>),
    Dict(Vec<(usize, usize)>),
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    arena: Vec<Object>,
    stack: Vec<usize>,
    /// Stack lengths at each `MARK` (Python's metastack).
    marks: Vec<usize>,
    memo: HashMap<u64, usize>,
}

/// Integers wider than this many bytes are refused before being read (no `i128` can hold them).
const MAX_INT_BYTES: usize = 16;

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.pos.checked_add(n).ok_or(PickleError::Truncated)?;
        let bytes = self
            .input
            .get(self.pos..end)
            .ok_or(PickleError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// The text up to the next newline (protocol 0 arguments), without the newline.
    fn line(&mut self) -> Result<&[u8], PickleError> {
        let rest = self.input.get(self.pos..).ok_or(PickleError::Truncated)?;
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated)?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    fn line_str(&mut self) -> Result<&str, PickleError> {
        std::str::from_utf8(self.line()?).map_err(|_| PickleError::Malformed("non-ASCII argument"))
    }

    fn push(&mut self, object: Object) {
        self.arena.push(object);
        self.stack.push(self.arena.len() - 1);
    }

    fn pop(&mut self) -> Result<usize, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(PickleError::Malformed("stack underflow"));
        }
        self.stack
            .pop()
            .ok_or(PickleError::Malformed("stack underflow"))
    }

    fn top(&self) -> Result<usize, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        match self.stack.last() {
            Some(&top) if self.stack.len() > floor => Ok(top),
            _ => Err(PickleError::Malformed("stack underflow")),
        }
    }

    /// The objects pushed since the last `MARK`, which is popped.
    fn pop_mark(&mut self) -> Result<Vec<usize>, PickleError> {
        let mark = self
            .marks
            .pop()
            .ok_or(PickleError::Malformed("no MARK on the stack"))?;
        Ok(self.stack.split_off(mark))
    }

    fn memo_get(&mut self, index: u64) -> Result<(), PickleError> {
        let object = *self
            .memo
            .get(&index)
            .ok_or(PickleError::Malformed("memo index not found"))?;
        self.stack.push(object);
        Ok(())
    }

    fn memo_put(&mut self, index: u64) -> Result<(), PickleError> {
        let top = self.top()?;
        self.memo.insert(index, top);
        Ok(())
    }

    fn append(&mut self, list: usize, items: Vec<usize>) -> Result<(), PickleError> {
        match self.arena.get_mut(list) {
            Some(Object::List(existing)) => {
                existing.extend(items);
                Ok(())
            }
            _ => Err(PickleError::NotJsonLike(
                "items appended to something other than a list".to_owned(),
            )),
        }
    }

    fn set_items(&mut self, dict: usize, flat: Vec<usize>) -> Result<(), PickleError> {
        if !flat.len().is_multiple_of(2) {
            return Err(PickleError::Malformed("odd number of items for a dict"));
        }
        let pairs = flat.chunks_exact(2).map(|pair| (pair[0], pair[1]));
        match self.arena.get_mut(dict) {
            Some(Object::Dict(existing)) => {
                existing.extend(pairs);
                Ok(())
            }
            _ => Err(PickleError::NotJsonLike(
                "items set on something other than a dict".to_owned(),
            )),
        }
    }

    fn push_str(&mut self, bytes: &[u8]) -> Result<(), PickleError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| PickleError::NotJsonLike("a str with a lone surrogate".to_owned()))?;
        self.push(Object::Str(text.to_owned()));
        Ok(())
    }

    fn push_long(&mut self, bytes_le: &[u8]) -> Result<(), PickleError> {
        if bytes_le.len() > MAX_INT_BYTES {
            return Err(PickleError::IntegerTooLarge);
        }
        let negative = bytes_le.last().is_some_and(|&b| b & 0x80 != 0);
        let mut full = [if negative { 0xff } else { 0 }; 16];
        full[..bytes_le.len()].copy_from_slice(bytes_le);
        self.push(Object::Int(i128::from_le_bytes(full)));
        Ok(())
    }

    fn not_json_like(what: &str) -> PickleError {
        PickleError::NotJsonLike(what.to_owned())
    }

    /// Runs the opcodes up to `STOP`; the object left on the stack.
    fn run(&mut self) -> Result<usize, PickleError> {
        loop {
            let op = self.byte()?;
            match op {
                0x80 => {
                    let protocol = self.byte()?;
                    if protocol > 5 {
                        return Err(PickleError::UnsupportedProtocol(protocol));
                    }
                }
                // FRAME: its length only helps readers that buffer; the opcodes follow inline.
                0x95 => {
                    self.take(8)?;
                }
                b'.' => return self.pop(),
                b'N' => self.push(Object::None),
                0x88 => self.push(Object::Bool(true)),
                0x89 => self.push(Object::Bool(false)),
                b'I' => {
                    let object = match self.line_str()? {
                        "01" => Object::Bool(true),
                        "00" => Object::Bool(false),
                        text => Object::Int(parse_decimal(text)?),
                    };
                    self.push(object);
                }
                b'L' => {
                    let text = self.line_str()?;
                    let int = parse_decimal(text.strip_suffix('L').unwrap_or(text))?;
                    self.push(Object::Int(int));
                }
                b'J' => {
                    let int = i32::from_le_bytes(self.array()?);
                    self.push(Object::Int(i128::from(int)));
                }
                b'K' => {
                    let int = self.byte()?;
                    self.push(Object::Int(i128::from(int)));
                }
                b'M' => {
                    let int = u16::from_le_bytes(self.array()?);
                    self.push(Object::Int(i128::from(int)));
                }
                0x8a => {
                    let len = usize::from(self.byte()?);
                    let bytes = self.take(len)?.to_vec();
                    self.push_long(&bytes)?;
                }
                0x8b => {
                    let len = i32::from_le_bytes(self.array()?);
                    let len = usize::try_from(len)
                        .map_err(|_| PickleError::Malformed("negative LONG4 length"))?;
                    if len > MAX_INT_BYTES {
                        self.take(len)?;
                        return Err(PickleError::IntegerTooLarge);
                    }
                    let bytes = self.take(len)?.to_vec();
                    self.push_long(&bytes)?;
                }
                b'F' => {
                    let float = self
                        .line_str()?
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| PickleError::Malformed("bad FLOAT"))?;
                    self.push(Object::Float(float));
                }
                b'G' => {
                    let float = f64::from_be_bytes(self.array()?);
                    self.push(Object::Float(float));
                }
                0x8c => {
                    let len = usize::from(self.byte()?);
                    let bytes = self.take(len)?.to_vec();
                    self.push_str(&bytes)?;
                }
                b'X' => {
                    let len = u32::from_le_bytes(self.array()?) as usize;
                    let bytes = self.take(len)?.to_vec();
                    self.push_str(&bytes)?;
                }
                0x8d => {
                    let len = usize::try_from(u64::from_le_bytes(self.array()?))
                        .map_err(|_| PickleError::Truncated)?;
                    let bytes = self.take(len)?.to_vec();
                    self.push_str(&bytes)?;
                }
                b'V' => {
                    let text = raw_unicode_escape(self.line()?)?;
                    self.push(Object::Str(text));
                }
                b']' => self.push(Object::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Object::List(items));
                }
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?;
                    self.append(list, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.append(list, items)?;
                }
                b'}' => self.push(Object::Dict(Vec::new())),
                b'd' => {
                    let flat = self.pop_mark()?;
                    self.push(Object::Dict(Vec::new()));
                    let dict = self.top()?;
                    self.set_items(dict, flat)?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    let dict = self.top()?;
                    self.set_items(dict, vec![key, value])?;
                }
                b'u' => {
                    let flat = self.pop_mark()?;
                    let dict = self.top()?;
                    self.set_items(dict, flat)?;
                }
                b')' => self.push(Object::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Object::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Object::Tuple(items));
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    // POP discards the top object, or the topmost mark when nothing was pushed after it.
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                b'p' => {
                    let index = self
                        .line_str()?
                        .parse()
                        .map_err(|_| PickleError::Malformed("bad PUT index"))?;
                    self.memo_put(index)?;
                }
                b'q' => {
                    let index = self.byte()?;
                    self.memo_put(u64::from(index))?;
                }
                b'r' => {
                    let index = u32::from_le_bytes(self.array()?);
                    self.memo_put(u64::from(index))?;
                }
                0x94 => {
                    let index = self.memo.len() as u64;
                    self.memo_put(index)?;
                }
                b'g' => {
                    let index = self
                        .line_str()?
                        .parse()
                        .map_err(|_| PickleError::Malformed("bad GET index"))?;
                    self.memo_get(index)?;
                }
                b'h' => {
                    let index = self.byte()?;
                    self.memo_get(u64::from(index))?;
                }
                b'j' => {
                    let index = u32::from_le_bytes(self.array()?);
                    self.memo_get(u64::from(index))?;
                }
                b'c' => {
                    let module = String::from_utf8_lossy(self.line()?).into_owned();
                    let name = String::from_utf8_lossy(self.line()?).into_owned();
                    return Err(PickleError::NotJsonLike(format!(
                        "a Python object ({module}.{name})"
                    )));
                }
                0x93 => {
                    let name = self.pop().ok().and_then(|at| self.str_at(at));
                    let module = self.pop().ok().and_then(|at| self.str_at(at));
                    return Err(PickleError::NotJsonLike(match (module, name) {
                        (Some(module), Some(name)) => format!("a Python object ({module}.{name})"),
                        _ => "a Python object".to_owned(),
                    }));
                }
                b'B' | b'C' | 0x8e => return Err(Self::not_json_like("bytes")),
                0x96 => return Err(Self::not_json_like("a bytearray")),
                b'S' | b'T' | b'U' => return Err(Self::not_json_like("a Python 2 byte string")),
                0x8f..=0x91 => return Err(Self::not_json_like("a set")),
                b'R' | b'b' | b'i' | b'o' | 0x81 | 0x92 | 0x82..=0x84 | b'P' | b'Q' => {
                    return Err(Self::not_json_like("a Python object"))
                }
                0x97 | 0x98 => return Err(Self::not_json_like("an out-of-band buffer")),
                _ => return Err(PickleError::Malformed("unknown opcode")),
            }
        }
    }

    fn str_at(&self, at: usize) -> Option<String> {
        match self.arena.get(at) {
            Some(Object::Str(text)) => Some(text.clone()),
            _ => None,
        }
    }

    /// Builds the value of arena object `at`, spending `budget`.
    fn to_value(&self, at: usize, depth: usize, budget: &mut usize) -> Result<Value, PickleError> {
        if depth > MAX_DEPTH {
            return Err(PickleError::TooLarge("nesting"));
        }
        let object = self
            .arena
            .get(at)
            .ok_or(PickleError::Malformed("dangling reference"))?;
        let cost = match object {
            Object::Str(text) => text.len().saturating_add(1),
            _ => 1,
        };
        *budget = budget
            .checked_sub(cost)
            .ok_or(PickleError::TooLarge("work budget"))?;
        Ok(match object {
            Object::None => Value::Null,
            Object::Bool(b) => Value::Bool(*b),
            Object::Int(int) => int_value(*int)?,
            Object::Float(float) => Value::Number(Number::from_f64(*float).ok_or_else(|| {
                PickleError::NotJsonLike(format!("the float {float} (JSON has no NaN or infinity)"))
            })?),
            Object::Str(text) => Value::String(text.clone()),
            Object::List(items) | Object::Tuple(items) => Value::Array(
                items
                    .iter()
                    .map(|&item| self.to_value(item, depth + 1, budget))
                    .collect::<Result<_, _>>()?,
            ),
            Object::Dict(pairs) => {
                let mut map = Map::new();
                for &(key, value) in pairs {
                    let Some(Object::Str(key)) = self.arena.get(key) else {
                        return Err(Self::not_json_like("a dict key that is not a str"));
                    };
                    *budget = budget
                        .checked_sub(key.len())
                        .ok_or(PickleError::TooLarge("work budget"))?;
                    let value = self.to_value(value, depth + 1, budget)?;
                    map.insert(key.clone(), value);
                }
                Value::Object(map)
            }
        })
    }
}

/// An integer as a JSON number, if it fits `i64` or `u64`.
pub(crate) fn int_value(int: i128) -> Result<Value, PickleError> {
    if let Ok(int) = i64::try_from(int) {
        Ok(Value::from(int))
    } else if let Ok(int) = u64::try_from(int) {
        Ok(Value::from(int))
    } else {
        Err(PickleError::IntegerTooLarge)
    }
}

/// A protocol-0 decimal integer (`INT`, `LONG`); too long for `i128` means too large.
fn parse_decimal(text: &str) -> Result<i128, PickleError> {
    let digits = text.trim_start_matches(['-', '+']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PickleError::Malformed("bad decimal integer"));
    }
    text.parse().map_err(|_| PickleError::IntegerTooLarge)
}

/// Python's `raw-unicode-escape` codec (protocol 0 `UNICODE`): latin-1 bytes, with `\uXXXX` and
/// `\UXXXXXXXX` escapes.
fn raw_unicode_escape(bytes: &[u8]) -> Result<String, PickleError> {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let width = match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            (byte, _) => {
                out.push(char::from(byte));
                i += 1;
                continue;
            }
        };
        let hex = bytes
            .get(i + 2..i + 2 + width)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .ok_or(PickleError::Malformed("bad \\u escape"))?;
        let ch = char::from_u32(hex)
            .ok_or_else(|| PickleError::NotJsonLike("a str with a lone surrogate".to_owned()))?;
        out.push(ch);
        i += 2 + width;
    }
    Ok(out)
}
