//! The writer: a JSON-like value as CPython's C pickler writes it at protocol 5.

use serde_json::{Number, Value};

use super::{PickleError, MAX_DEPTH};

/// Frames are cut once they reach this many bytes (CPython's `FRAME_SIZE_TARGET`), and strings at least
/// this long are written outside any frame.
const FRAME_SIZE_TARGET: usize = 64 * 1024;
/// A frame with fewer bytes than this is written without its `FRAME` header (`FRAME_SIZE_MIN`).
const FRAME_SIZE_MIN: usize = 4;
/// `FRAME` opcode plus its 8-byte length.
const FRAME_HEADER: usize = 9;
/// Items per `APPENDS` / `SETITEMS` (CPython's `BATCHSIZE`).
const BATCH: usize = 1000;

/// Pickles `value` as Python's `pickle.dumps(value, 5)` would (see the [module docs](super)).
///
/// [`PickleError::NotJsonLike`] for nesting deeper than [`MAX_DEPTH`] (Python could not pickle it either).
pub fn to_pickle(value: &Value) -> Result<Vec<u8>, PickleError> {
    let mut writer = Writer {
        out: Vec::with_capacity(64),
        frame_start: None,
        framing: true,
    };
    writer.out.extend_from_slice(&[0x80, 5]);
    writer.save(value, 0)?;
    writer.write(b".");
    writer.commit_frame();
    Ok(writer.out)
}

/// Pickles a Python `bytes` object holding `data`, as `pickle.dumps(data, 5)` would: how Django's file and
/// database caches store raw bytes.
#[cfg(any(
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql"
))]
pub(crate) fn bytes_to_pickle(data: &[u8]) -> Vec<u8> {
    let mut writer = Writer {
        out: Vec::with_capacity(data.len() + 16),
        frame_start: None,
        framing: true,
    };
    writer.out.extend_from_slice(&[0x80, 5]);
    writer.save_sized([b'C', b'B', 0x8e], data);
    writer.write(b".");
    writer.commit_frame();
    writer.out
}

/// The output with CPython's framing rules: opcodes go into the open frame, opened on first write.
struct Writer {
    out: Vec<u8>,
    /// Where the open frame's reserved header starts.
    frame_start: Option<usize>,
    /// False while a large string is written outside frames.
    framing: bool,
}

impl Writer {
    fn write(&mut self, bytes: &[u8]) {
        if self.framing && self.frame_start.is_none() {
            self.frame_start = Some(self.out.len());
            self.out.extend_from_slice(&[0; FRAME_HEADER]);
        }
        self.out.extend_from_slice(bytes);
    }

    /// Closes the open frame: fills in its header, or drops the reserved header if the frame is tiny.
    fn commit_frame(&mut self) {
        let Some(start) = self.frame_start.take() else {
            return;
        };
        let len = self.out.len() - start - FRAME_HEADER;
        if len >= FRAME_SIZE_MIN {
            self.out[start] = 0x95;
            self.out[start + 1..start + FRAME_HEADER].copy_from_slice(&(len as u64).to_le_bytes());
        } else {
            self.out.drain(start..start + FRAME_HEADER);
        }
    }

    /// Between two objects: cut the frame if it has grown to the target size.
    fn boundary(&mut self) {
        if let Some(start) = self.frame_start {
            if self.out.len() - start - FRAME_HEADER >= FRAME_SIZE_TARGET {
                self.commit_frame();
            }
        }
    }

    fn save(&mut self, value: &Value, depth: usize) -> Result<(), PickleError> {
        if depth > MAX_DEPTH {
            return Err(PickleError::NotJsonLike(format!(
                "nested deeper than {MAX_DEPTH} levels"
            )));
        }
        self.boundary();
        match value {
            Value::Null => self.write(b"N"),
            Value::Bool(true) => self.write(&[0x88]),
            Value::Bool(false) => self.write(&[0x89]),
            Value::Number(number) => self.save_number(number),
            Value::String(text) => self.save_str(text),
            Value::Array(items) => {
                self.write(&[b']', 0x94]);
                if let [only] = items.as_slice() {
                    self.save(only, depth + 1)?;
                    self.write(b"a");
                } else {
                    for batch in items.chunks(BATCH) {
                        self.write(b"(");
                        for item in batch {
                            self.save(item, depth + 1)?;
                        }
                        self.write(b"e");
                    }
                }
            }
            Value::Object(map) => {
                self.write(&[b'}', 0x94]);
                let entries: Vec<_> = map.iter().collect();
                if let [(key, value)] = entries.as_slice() {
                    self.save_key(key)?;
                    self.save(value, depth + 1)?;
                    self.write(b"s");
                } else {
                    for batch in entries.chunks(BATCH) {
                        self.write(b"(");
                        for (key, value) in batch {
                            self.save_key(key)?;
                            self.save(value, depth + 1)?;
                        }
                        self.write(b"u");
                    }
                }
            }
        }
        Ok(())
    }

    fn save_key(&mut self, key: &str) -> Result<(), PickleError> {
        self.boundary();
        self.save_str(key);
        Ok(())
    }

    fn save_number(&mut self, number: &Number) {
        if let Some(int) = number.as_i64() {
            self.save_int(i128::from(int));
        } else if let Some(int) = number.as_u64() {
            self.save_int(i128::from(int));
        } else if let Some(float) = number.as_f64() {
            let mut op = [0; 9];
            op[0] = b'G';
            op[1..].copy_from_slice(&float.to_be_bytes());
            self.write(&op);
        }
    }

    /// `BININT1`, `BININT2`, `BININT` or `LONG1`, whichever is shortest, as CPython chooses.
    fn save_int(&mut self, int: i128) {
        if (0..=0xff).contains(&int) {
            self.write(&[b'K', int as u8]);
        } else if (0..=0xffff).contains(&int) {
            let mut op = [b'M', 0, 0];
            op[1..].copy_from_slice(&(int as u16).to_le_bytes());
            self.write(&op);
        } else if let Ok(int) = i32::try_from(int) {
            let mut op = [b'J', 0, 0, 0, 0];
            op[1..].copy_from_slice(&int.to_le_bytes());
            self.write(&op);
        } else {
            // Python's encode_long: (bit_length >> 3) + 1 bytes of two's complement, little-endian, minus a
            // redundant 0xff sign byte for negatives.
            let bit_length = 128
                - if int < 0 {
                    (!int).leading_zeros()
                } else {
                    int.leading_zeros()
                };
            let mut len = (bit_length as usize >> 3) + 1;
            let bytes = int.to_le_bytes();
            if int < 0 && len > 1 && bytes[len - 1] == 0xff && bytes[len - 2] & 0x80 != 0 {
                len -= 1;
            }
            let mut op = Vec::with_capacity(2 + len);
            op.extend_from_slice(&[0x8a, len as u8]);
            op.extend_from_slice(&bytes[..len]);
            self.write(&op);
        }
    }

    /// `SHORT_BINUNICODE`, `BINUNICODE` or `BINUNICODE8`, then `MEMOIZE`.
    fn save_str(&mut self, text: &str) {
        self.save_sized([0x8c, b'X', 0x8d], text.as_bytes());
    }

    /// A length-prefixed object (a `str` or a `bytes`) with the shortest of its three opcodes (one-byte,
    /// four-byte, eight-byte length), then `MEMOIZE`. An object of a frame's size or more goes outside
    /// frames, as CPython writes it, so the reader can take it without copying.
    fn save_sized(&mut self, [short, long, huge]: [u8; 3], bytes: &[u8]) {
        let mut header = Vec::with_capacity(9);
        if bytes.len() <= 0xff {
            header.extend_from_slice(&[short, bytes.len() as u8]);
        } else if let Ok(len) = u32::try_from(bytes.len()) {
            header.push(long);
            header.extend_from_slice(&len.to_le_bytes());
        } else {
            header.push(huge);
            header.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        }
        if bytes.len() >= FRAME_SIZE_TARGET {
            self.commit_frame();
            self.framing = false;
            self.write(&header);
            self.write(bytes);
            self.framing = true;
        } else {
            self.write(&header);
            self.write(bytes);
        }
        self.write(&[0x94]);
    }
}
