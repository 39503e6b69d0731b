//! The on-disk form of an entry — `<md5 of the made key>.tdcache`: a 12-byte header (`TDC1` and the expiry
//! as big-endian Unix milliseconds, `u64::MAX` for never), then the value — and the file-system helpers
//! every operation uses.

use std::fs;
use std::io;
use std::path::Path;

use crate::backend::Expiry;

const MAGIC: &[u8; 4] = b"TDC1";
pub(super) const HEADER_LEN: usize = 12;
pub(super) const EXTENSION: &str = "tdcache";
const NEVER: u64 = u64::MAX;

/// A decoded entry file.
pub(super) struct Stored {
    pub(super) expiry: Expiry,
    pub(super) value: Vec<u8>,
}

pub(super) fn encode_header(expiry: Expiry) -> [u8; HEADER_LEN] {
    let millis = expiry
        .as_unix_millis()
        .map_or(NEVER, |ms| u64::try_from(ms).unwrap_or(0));
    let mut header = [0; HEADER_LEN];
    header[..4].copy_from_slice(MAGIC);
    header[4..].copy_from_slice(&millis.to_be_bytes());
    header
}

pub(super) fn decode_header(header: &[u8]) -> Option<Expiry> {
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

pub(super) fn is_entry_file(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == EXTENSION)
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
