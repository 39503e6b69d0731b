//! Django's JSON: what `django.core.signing.JSONSerializer` (also Django's session serializer) writes and
//! reads — Python's `json.dumps(obj, separators=(",", ":"))` and `json.loads(data.decode("latin-1"))`.
//!
//! `serde_json` alone does not do: it writes UTF-8 where Python escapes to ASCII, writes `1e16` as
//! `1e16` where Python writes `1e+16`, and rejects or accepts different inputs. Matching Python byte for
//! byte is what makes a value signed here the same string Django signs.

mod parse;
mod write;

pub use parse::{from_slice, MAX_DEPTH};
pub use write::{float_repr, to_string, write_object, write_value};

/// Why JSON could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {kind}")]
pub struct JsonError {
    /// Where in the input (bytes from the start).
    pub offset: usize,
    /// What is wrong there.
    pub kind: JsonErrorKind,
}

/// The kinds of [`JsonError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonErrorKind {
    /// Not JSON as Python reads it (the text says what was expected).
    #[error("{0}")]
    Syntax(&'static str),
    /// Valid for Python but not representable in a `serde_json::Value` (the text names it): `NaN`,
    /// `Infinity`, `-Infinity`, a float overflowing to infinity, an integer outside
    /// `i64::MIN..=u64::MAX`, a lone surrogate. Refused rather than changed, so nothing is silently
    /// rewritten when the data is saved back.
    #[error("{0} cannot be represented")]
    Unrepresentable(&'static str),
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}
