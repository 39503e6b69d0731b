//! Python's pickle format, for JSON-like values only: what Django stores in a shared cache.
//!
//! [`to_pickle`] writes what CPython 3.8+'s `pickle.dumps(value, 5)` writes for the same value (protocol 5,
//! framed, every `str`, `list` and `dict` memoized, lists and dicts in batches of 1000), so a Django process
//! reads it back as the same `str`, `int`, `float`, `bool`, `None`, `list` and `dict`. The bytes are
//! identical to Python's for values that share no objects and whose dicts list their keys in sorted order:
//! values pass through [`serde_json::Value`], whose maps are sorted, and Python memoizes repeated objects
//! by identity (its `BINGET` back-references), which a value tree cannot express. Both differences change
//! the bytes only, never what Python reads.
//!
//! [`from_pickle`] reads protocols 0 to 5 as Python writes them for those types (tuples read as lists,
//! shared objects copied). It is a parser, never an interpreter: the opcodes that would import or call
//! anything (`GLOBAL`, `STACK_GLOBAL`, `REDUCE`, `BUILD`, `NEWOBJ`, `INST`, `OBJ`, extension codes,
//! persistent ids, out-of-band buffers) end decoding with [`PickleError::NotJsonLike`]. Work is bounded by
//! the input's length: objects referenced from several places are copied at most up to a budget of
//! [`BUDGET_PER_INPUT_BYTE`] units per input byte, and nesting is limited to [`MAX_DEPTH`].
//!
//! Why not the `serde-pickle` crate: it writes protocol 2 or 3 only (no frames, no memoization), which
//! Python reads but which is never the bytes Django writes, and its reader resolves a list of Python
//! globals and can keep class-instance state, where a shared cache needs the opposite: anything that is
//! not plain data refused, with a typed error, under a bound on work. What is needed here is small: the
//! opcodes Python emits for seven types.

mod decode;
mod encode;

pub use self::decode::from_pickle;
#[cfg(feature = "file")]
pub(crate) use self::decode::from_pickle_prefix;
pub(crate) use self::decode::int_value;
#[cfg(any(
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "memcached"
))]
pub(crate) use self::decode::pickled_bytes;
#[cfg(any(
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql"
))]
pub(crate) use self::encode::bytes_to_pickle;
pub use self::encode::to_pickle;

/// How deeply lists and dicts may nest, in both directions: serde_json's own limit when it parses JSON, so
/// the two formats accept the same values, and far more than cached data needs.
pub const MAX_DEPTH: usize = 128;

/// How much decoded output (one unit per value plus one per byte of string) one byte of pickle may yield.
/// Legitimate pickles stay far below it; a pickle that references one large object many times
/// (a "billion laughs") hits it instead of exhausting memory.
pub const BUDGET_PER_INPUT_BYTE: usize = 64;

pub use crate::error::PickleError;

#[cfg(test)]
mod tests;
