//! How driver errors are told apart and reported: one rule for every Redis module.

use redis::RedisError;

use super::NAME;
use crate::error::Error;

/// Whether `error` means the connection itself is unusable (as opposed to an error reply from a healthy
/// server, like a wrong type or a non-integer value).
pub(super) fn is_connection_error(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}

/// Wraps a driver error as [`Error::Backend`].
pub(super) fn backend_error(error: RedisError) -> Error {
    Error::backend(NAME, error)
}
