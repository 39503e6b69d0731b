//! How a key, a value and an expiry become statement parameters, and how a value read back becomes the
//! `Cache`'s bytes, in each [`Layout`] of the table.

use base64::Engine as _;

use super::statements::Layout;
use crate::backend::Expiry;
use crate::codec::django::stored::{pickle_everything, unpickle_everything};
use crate::sql::Bind;

/// `datetime.max` at whole seconds (9999-12-31 23:59:59 UTC) in Unix milliseconds: what Django writes for
/// an entry that never expires, and the latest instant its date-time columns hold.
const DJANGO_NEVER_MILLIS: i64 = 253_402_300_799_000;

/// A value as a statement parameter, owned where the layout re-encodes it.
pub(super) enum Param<'a> {
    Bytes(&'a [u8]),
    Text(String),
}

impl Param<'_> {
    pub(super) fn bind(&self) -> Bind<'_> {
        match self {
            Param::Bytes(bytes) => Bind::Bytes(bytes),
            Param::Text(text) => Bind::Text(text),
        }
    }
}

impl Layout {
    /// A key as a statement parameter: its UTF-8 bytes in this crate's layout (keys are stored as bytes and
    /// compared byte for byte), text in Django's `varchar` column.
    pub(super) fn key(self, key: &str) -> Bind<'_> {
        match self {
            Layout::Native => Bind::Bytes(key.as_bytes()),
            Layout::Django => Bind::Text(key),
        }
    }

    /// The `Cache`'s bytes as stored: as they are, or Django's `base64(pickle.dumps(value))`.
    pub(super) fn value(self, value: &[u8]) -> Param<'_> {
        match self {
            Layout::Native => Param::Bytes(value),
            Layout::Django => Param::Text(
                base64::engine::general_purpose::STANDARD.encode(pickle_everything(value)),
            ),
        }
    }

    /// A stored value back to the `Cache`'s bytes; `Err` says why a row cannot be read (a corrupted row).
    pub(super) fn read_value(self, stored: Vec<u8>) -> Result<Vec<u8>, String> {
        match self {
            Layout::Native => Ok(stored),
            Layout::Django => base64::engine::general_purpose::STANDARD
                .decode(stored.trim_ascii())
                .map(unpickle_everything)
                .map_err(|error| format!("the value is not base64: {error}")),
        }
    }

    /// An expiry as Unix milliseconds, the parameter every statement takes for it: `i64::MAX` for never in
    /// this crate's layout (every comparison is then a plain `expires_ms > now`), Django's `datetime.max`
    /// in Django's.
    pub(super) fn expiry(self, expiry: Expiry) -> i64 {
        let millis = match expiry {
            Expiry::Never => i64::MAX,
            Expiry::At(_) => expiry.as_unix_millis().unwrap_or(i64::MAX),
        };
        match self {
            Layout::Native => millis,
            Layout::Django => millis.min(DJANGO_NEVER_MILLIS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_values_are_base64_pickles() {
        // base64.b64encode(pickle.dumps(42, 5)) and of pickle.dumps("a", 5).
        let Param::Text(text) = Layout::Django.value(b"42") else {
            panic!("Django's values are text");
        };
        assert_eq!(text, "gAVLKi4=");
        assert_eq!(
            Layout::Django.read_value(text.into_bytes()),
            Ok(b"42".to_vec())
        );
        let pickled_a = b"\x80\x05\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01a\x94.".to_vec();
        assert_eq!(
            Layout::Django.read_value(b"gAWVBQAAAAAAAACMAWGULg==".to_vec()),
            Ok(pickled_a)
        );
        assert!(Layout::Django.read_value(b"%%%".to_vec()).is_err());
    }

    #[test]
    fn never_is_datetime_max_in_django_layout() {
        assert_eq!(Layout::Django.expiry(Expiry::Never), DJANGO_NEVER_MILLIS);
        assert_eq!(Layout::Native.expiry(Expiry::Never), i64::MAX);
        let at = Expiry::from_unix_millis(Some(1_000));
        assert_eq!(Layout::Django.expiry(at), 1_000);
    }
}
