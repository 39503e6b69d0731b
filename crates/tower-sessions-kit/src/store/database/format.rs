//! How the `session_data` column holds a session: this crate's JSON, or another format such as Django's
//! signed one, chosen when the store is built.

use std::fmt;

use crate::record::{self, Data};

/// Encodes and decodes the data column. Decoding is lenient, as Django's `SessionBase.decode`: a value that
/// cannot be read is an empty session (with a warning), never an error that would lock the user out.
pub(crate) trait RowFormat: Send + Sync + fmt::Debug {
    /// The column's text for `data`.
    fn encode(&self, data: &Data) -> String;

    /// The data in the column's `text`; `store` names the store in the warning.
    fn decode(&self, store: &'static str, text: &str) -> Data;
}

/// This crate's format: the data as a JSON object.
#[derive(Debug)]
pub(crate) struct Json;

impl RowFormat for Json {
    fn encode(&self, data: &Data) -> String {
        String::from_utf8(record::encode(data)).unwrap_or_else(|_| "{}".to_owned())
    }

    fn decode(&self, store: &'static str, text: &str) -> Data {
        record::decode(store, text.as_bytes())
    }
}

/// Django's format: `SessionBase.encode`/`decode`, signed with the project's secret key.
#[cfg(feature = "django")]
impl RowFormat for crate::django::SessionCodec {
    fn encode(&self, data: &Data) -> String {
        crate::django::SessionCodec::encode(self, data)
    }

    fn decode(&self, _store: &'static str, text: &str) -> Data {
        crate::django::SessionCodec::decode(self, text)
    }
}
