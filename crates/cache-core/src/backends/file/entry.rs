//! The on-disk forms of an entry ([`Layout`]) and the file-system helpers every operation uses.
//!
//! - This crate's: `<md5 of the made key>.tdcache`, a 12-byte header (`TDC1` and the expiry as big-endian
//!   Unix milliseconds, `u64::MAX` for never), then the value as it is.
//! - Django's `FileBasedCache`: `<md5 of the made key>.djcache`, `pickle.dumps(expiry)` (a Unix time in
//!   seconds as a float, or `None` for never), then `zlib.compress(pickle.dumps(value))`.

use std::fs;
use std::io;
use std::path::Path;

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::backend::Expiry;
use crate::codec::django::stored::{deflate, inflate, pickle_everything, unpickle_everything};
use crate::codec::pickle::{from_pickle_prefix, to_pickle};

const MAGIC: &[u8; 4] = b"TDC1";
const HEADER_LEN: usize = 12;
const EXTENSION: &str = "tdcache";
const NEVER: u64 = u64::MAX;

/// How entries are written to disk: this crate's layout, or Django's (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Layout {
    #[default]
    Native,
    Django,
}

/// The most bytes a Django entry's value may inflate to: a corrupted or hostile file is a miss, not a
/// huge allocation.
const MAX_DJANGO_VALUE: usize = 512 << 20;

/// How many bytes of a file always hold its expiry (a pickled float is 21 bytes, `None` 4).
const DJANGO_EXPIRY_PROBE: usize = 64;

impl Layout {
    pub(super) fn extension(self) -> &'static str {
        match self {
            Layout::Native => EXTENSION,
            Layout::Django => "djcache",
        }
    }

    /// How many leading bytes are enough to read the expiry.
    pub(super) fn expiry_len(self) -> usize {
        match self {
            Layout::Native => HEADER_LEN,
            Layout::Django => DJANGO_EXPIRY_PROBE,
        }
    }

    /// The expiry, and where the value starts, of a file's leading bytes; `None` when corrupted.
    pub(super) fn decode_expiry(self, bytes: &[u8]) -> Option<(Expiry, usize)> {
        match self {
            Layout::Native => decode_header(bytes).map(|expiry| (expiry, HEADER_LEN)),
            Layout::Django => {
                let (expiry, len) = from_pickle_prefix(bytes).ok()?;
                let expiry = match expiry {
                    Value::Null => Expiry::Never,
                    Value::Number(seconds) => {
                        let seconds = seconds.as_f64()?;
                        // Before the epoch (Django writes `time.time() - 1` for a zero timeout) is expired.
                        Expiry::At(
                            Duration::try_from_secs_f64(seconds)
                                .ok()
                                .and_then(|since| SystemTime::UNIX_EPOCH.checked_add(since))
                                .unwrap_or(SystemTime::UNIX_EPOCH),
                        )
                    }
                    _ => return None,
                };
                Some((expiry, len))
            }
        }
    }

    /// The value stored after the expiry; `None` when corrupted.
    pub(super) fn decode_value(self, stored: Vec<u8>) -> Option<Vec<u8>> {
        match self {
            Layout::Native => Some(stored),
            Layout::Django => Some(unpickle_everything(inflate(&stored, MAX_DJANGO_VALUE)?)),
        }
    }

    /// A whole file for `value` expiring at `expiry`.
    pub(super) fn encode(self, value: &[u8], expiry: Expiry) -> Vec<u8> {
        match self {
            Layout::Native => {
                let mut file = Vec::with_capacity(HEADER_LEN + value.len());
                file.extend_from_slice(&encode_header(expiry));
                file.extend_from_slice(value);
                file
            }
            Layout::Django => {
                let seconds = match expiry {
                    Expiry::Never => Value::Null,
                    Expiry::At(at) => {
                        let since = at
                            .duration_since(SystemTime::UNIX_EPOCH)
                            .unwrap_or_default();
                        Value::from(since.as_secs_f64())
                    }
                };
                let mut file = to_pickle(&seconds).unwrap_or_default();
                file.extend_from_slice(&deflate(&pickle_everything(value)));
                file
            }
        }
    }

    pub(super) fn is_entry_file(self, path: &Path) -> bool {
        path.extension().is_some_and(|ext| ext == self.extension())
    }
}

/// A decoded entry file.
pub(super) struct Stored {
    pub(super) expiry: Expiry,
    pub(super) value: Vec<u8>,
}

fn encode_header(expiry: Expiry) -> [u8; HEADER_LEN] {
    let millis = expiry
        .as_unix_millis()
        .map_or(NEVER, |ms| u64::try_from(ms).unwrap_or(0));
    let mut header = [0; HEADER_LEN];
    header[..4].copy_from_slice(MAGIC);
    header[4..].copy_from_slice(&millis.to_be_bytes());
    header
}

fn decode_header(header: &[u8]) -> Option<Expiry> {
    if header.len() < HEADER_LEN || &header[..4] != MAGIC {
        return None;
    }
    let mut millis = [0; 8];
    millis.copy_from_slice(&header[4..HEADER_LEN]);
    match u64::from_be_bytes(millis) {
        NEVER => Some(Expiry::Never),
        ms => Some(Expiry::from_unix_millis(Some(
            i64::try_from(ms).unwrap_or(i64::MAX),
        ))),
    }
}

pub(super) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    if fs::metadata(dir)?.is_dir() {
        Ok(())
    } else {
        Err(io::Error::other("exists and is not a directory"))
    }
}

pub(super) fn remove_if_present(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
