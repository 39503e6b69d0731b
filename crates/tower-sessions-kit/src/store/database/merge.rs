//! [`Merge`]: one save as the merging transaction takes it, alone or batched.

use std::time::Duration;

use crate::record::Changes;

/// One save's change-set, owned: what the merging transaction applies, alone or batched with the saves
/// that fell back meanwhile.
pub(super) struct Merge {
    /// The session's key.
    pub(super) key: String,
    /// What the request changed.
    pub(super) changes: Changes,
    /// The layer's cookie age, for the expiry of a record without a custom one.
    pub(super) cookie_age: Duration,
}
