//! The operations on the cache directory, each run as plain blocking `std::fs` calls on a blocking
//! thread: reading a live entry, publishing one, culling, and the directory's write lock that makes
//! `compare_and_set`, `touch`, `incr` and the deletes atomic across processes.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use md5::{Digest, Md5};
use rand::seq::IteratorRandom;

use super::entry::{create_private_dir, remove_if_present, Layout, Stored};
use crate::backend::Expiry;

/// The directory's write lock (see [`Inner::lock_directory`]); not an entry file, so `clear` and culling
/// leave it alone.
pub(super) const LOCK_FILE: &str = ".tdcache-lock";

/// How long an operation waits for the directory's write lock.
pub(super) const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A cache directory and its culling settings, shared by the clones of a [`FileBackend`](super::FileBackend).
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) dir: PathBuf,
    pub(super) max_entries: u64,
    pub(super) cull_frequency: u64,
    pub(super) layout: Layout,
}

impl Inner {
    pub(super) fn path_for(&self, key: &str) -> PathBuf {
        let digest = Md5::digest(key.as_bytes());
        let mut name = String::with_capacity(40);
        for byte in digest {
            name.push_str(&format!("{byte:02x}"));
        }
        name.push('.');
        name.push_str(self.layout.extension());
        self.dir.join(name)
    }

    /// The live entry at `path`; expired and corrupted files are removed on the way.
    pub(super) fn read_live(&self, path: &Path, header_only: bool) -> io::Result<Option<Stored>> {
        let mut file = match fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        if header_only {
            Read::by_ref(&mut file)
                .take(self.layout.expiry_len() as u64)
                .read_to_end(&mut bytes)?;
        } else {
            file.read_to_end(&mut bytes)?;
        }
        let corrupted = || {
            tracing::warn!(path = %path.display(), "removing a corrupted cache file");
            remove_if_present(path).map(|_| None)
        };
        let Some((expiry, value_start)) = self.layout.decode_expiry(&bytes) else {
            return corrupted();
        };
        if expiry.is_expired_at(SystemTime::now()) {
            remove_if_present(path)?;
            return Ok(None);
        }
        if header_only {
            return Ok(Some(Stored {
                expiry,
                value: Vec::new(),
            }));
        }
        bytes.drain(..value_start);
        let Some(value) = self.layout.decode_value(bytes) else {
            return corrupted();
        };
        Ok(Some(Stored { expiry, value }))
    }

    /// Writes an entry to a temporary file in the cache directory, ready to be published.
    pub(super) fn write_temp(&self, value: &[u8], expiry: Expiry) -> io::Result<PathBuf> {
        create_private_dir(&self.dir)?;
        let temp = self
            .dir
            .join(format!(".tmp-{:016x}", rand::random::<u64>()));
        let result = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(&self.layout.encode(value, expiry))?;
            file.flush()
        })();
        match result {
            Ok(()) => Ok(temp),
            Err(e) => {
                let _ = fs::remove_file(&temp);
                Err(e)
            }
        }
    }

    pub(super) fn write(&self, path: &Path, value: &[u8], expiry: Expiry) -> io::Result<()> {
        let temp = self.write_temp(value, expiry)?;
        fs::rename(&temp, path).inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })
    }

    pub(super) fn entry_files(&self) -> io::Result<Vec<PathBuf>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if self.layout.is_entry_file(&path) {
                files.push(path);
            }
        }
        Ok(files)
    }

    pub(super) fn cull(&self) -> io::Result<()> {
        let files = self.entry_files()?;
        let count = files.len() as u64;
        if count < self.max_entries {
            return Ok(());
        }
        let doomed = match count.checked_div(self.cull_frequency) {
            // A cull frequency of 0 means "clear", as in Django.
            None => files,
            Some(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                files.into_iter().choose_multiple(&mut rand::rng(), n)
            }
        };
        for path in doomed {
            remove_if_present(&path)?;
        }
        Ok(())
    }

    pub(super) fn set(&self, key: &str, value: &[u8], expiry: Expiry) -> io::Result<()> {
        self.cull()?;
        self.write(&self.path_for(key), value, expiry)
    }

    pub(super) fn add(&self, key: &str, value: &[u8], expiry: Expiry) -> io::Result<bool> {
        let path = self.path_for(key);
        if self.read_live(&path, true)?.is_some() {
            return Ok(false);
        }
        self.cull()?;
        let temp = self.write_temp(value, expiry)?;
        // A hard link never replaces an existing file: if another writer published first, we lost.
        let published = match fs::hard_link(&temp, &path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        };
        let _ = fs::remove_file(&temp);
        published
    }

    /// Takes the directory's write lock: an exclusive `flock` on [`LOCK_FILE`], held until the returned
    /// file is dropped. Every process sharing the directory (and every thread: each call opens the file
    /// anew) is excluded. Waits at most [`LOCK_WAIT`], then fails rather than hang behind a stuck process.
    pub(super) fn lock_directory(&self) -> io::Result<fs::File> {
        create_private_dir(&self.dir)?;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(LOCK_FILE))?;
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_micros(100);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(10));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the cache directory stayed locked for {LOCK_WAIT:?}"),
                    ))
                }
                Err(fs::TryLockError::Error(error)) => return Err(error),
            }
        }
    }

    /// Replaces the live value under `key` with `new` only if it is `expected`, under the directory lock.
    pub(super) fn compare_and_set(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        expiry: Expiry,
    ) -> io::Result<bool> {
        let _lock = self.lock_directory()?;
        let path = self.path_for(key);
        match self.read_live(&path, false)? {
            Some(stored) if stored.value == expected => {
                self.write(&path, new, expiry)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub(super) fn delete(&self, path: &Path) -> io::Result<bool> {
        let _lock = self.lock_directory()?;
        let live = self.read_live(path, true)?.is_some();
        Ok(remove_if_present(path)? && live)
    }

    pub(super) fn rewrite(
        &self,
        key: &str,
        update: impl FnOnce(Stored) -> io::Result<Stored>,
    ) -> io::Result<bool> {
        let _lock = self.lock_directory()?;
        let path = self.path_for(key);
        let Some(stored) = self.read_live(&path, false)? else {
            return Ok(false);
        };
        let updated = update(stored)?;
        self.write(&path, &updated.value, updated.expiry)?;
        Ok(true)
    }
}
