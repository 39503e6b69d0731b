//! [`FileBackend`]: one file per entry in a directory (Django's `FileBasedCache`).
//!
//! - The directory (and its parents) is created with mode `0700` at construction and again before each
//!   write, so a cache directory removed at run time comes back.
//! - Each entry is `<dir>/<md5 of the made key>.tdcache`, holding a 12-byte header (`TDC1` magic and the
//!   expiry as big-endian Unix milliseconds, `u64::MAX` for never) and the value bytes as they are.
//! - Writes go to a temporary file in the same directory and are renamed into place, so readers never see a
//!   half-written entry. `add` publishes with a hard link, which fails if a live entry appeared meanwhile, so
//!   two processes adding the same key cannot both win.
//! - Expired and corrupted files (short, wrong magic) are removed when read; a corrupted file is a miss and a
//!   `tracing` warning, never an error.
//! - Culling as in Django: when a write finds at least `max_entries` entries, a random
//!   `count / cull_frequency` of them are removed (all of them when `cull_frequency` is 0).
//! - `clear` removes only `*.tdcache` files, never other files or the directory.
//! - `compare_and_set`, `touch`, `incr`, `delete` and `delete_many` hold the directory's write lock (an
//!   exclusive `flock` on `<dir>/.tdcache-lock`) from their read to their write, so they are atomic against
//!   each other in every process sharing the directory (Django's file cache has no such lock). `set` and `add` do not
//!   take it: a `set` racing with a `compare_and_set` on the same key may be overwritten by it, the last
//!   writer winning as with any `set`. The lock is waited for at most 2 s, then the operation fails.
//!
//! Every operation runs as one blocking task (`spawn_blocking`) doing plain `std::fs` calls: one thread hop
//! per operation instead of one per file system call.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use md5::{Digest, Md5};
use rand::seq::IteratorRandom;

use crate::backend::{checked_increment, CacheBackend, Expiry};
use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"TDC1";
const HEADER_LEN: usize = 12;
const EXTENSION: &str = "tdcache";
const NEVER: u64 = u64::MAX;

/// The directory's write lock (see [`Inner::lock_directory`]); not an entry file, so `clear` and culling
/// leave it alone.
const LOCK_FILE: &str = ".tdcache-lock";

/// How long an operation waits for the directory's write lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Django's `MAX_ENTRIES` default.
pub const DEFAULT_MAX_ENTRIES: u64 = 300;
/// Django's `CULL_FREQUENCY` default.
pub const DEFAULT_CULL_FREQUENCY: u64 = 3;

/// The file-system cache backend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FileBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    max_entries: u64,
    cull_frequency: u64,
}

/// Settings for a [`FileBackend`].
#[derive(Debug, Clone)]
#[must_use]
pub struct FileBackendBuilder {
    dir: PathBuf,
    max_entries: u64,
    cull_frequency: u64,
}

impl FileBackendBuilder {
    /// The most entries before a write culls (default 300).
    pub fn max_entries(mut self, max_entries: u64) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// Culling removes `1 / cull_frequency` of the entries (default 3); 0 removes them all.
    pub fn cull_frequency(mut self, cull_frequency: u64) -> Self {
        self.cull_frequency = cull_frequency;
        self
    }

    /// Creates the directory (mode 0700) and the backend. [`Error::Config`] when `max_entries` is zero or the
    /// directory cannot be created or is not a directory.
    pub fn build(self) -> Result<FileBackend> {
        if self.max_entries == 0 {
            return Err(Error::Config(
                "file cache max_entries must be positive".into(),
            ));
        }
        create_private_dir(&self.dir).map_err(|e| {
            Error::Config(format!(
                "cannot create the cache directory {}: {e}",
                self.dir.display()
            ))
        })?;
        Ok(FileBackend {
            inner: Arc::new(Inner {
                dir: self.dir,
                max_entries: self.max_entries,
                cull_frequency: self.cull_frequency,
            }),
        })
    }
}

impl FileBackend {
    /// A backend storing entries in `dir`, with Django's defaults (300 entries, cull a third).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        FileBackend::builder(dir).build()
    }

    /// Settings for a backend storing entries in `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> FileBackendBuilder {
        FileBackendBuilder {
            dir: dir.into(),
            max_entries: DEFAULT_MAX_ENTRIES,
            cull_frequency: DEFAULT_CULL_FREQUENCY,
        }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The file that holds `key`.
    pub fn path_for(&self, key: &str) -> PathBuf {
        self.inner.path_for(key)
    }

    async fn run<T, F>(&self, operation: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> io::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        match tokio::task::spawn_blocking(move || operation(&inner)).await {
            Ok(result) => result.map_err(|e| Error::backend("file", e)),
            Err(join) => Err(Error::backend("file", join)),
        }
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
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

/// A decoded entry file.
struct Stored {
    expiry: Expiry,
    value: Vec<u8>,
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

fn is_entry_file(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == EXTENSION)
}

impl Inner {
    fn path_for(&self, key: &str) -> PathBuf {
        let digest = Md5::digest(key.as_bytes());
        let mut name = String::with_capacity(40);
        for byte in digest {
            name.push_str(&format!("{byte:02x}"));
        }
        name.push('.');
        name.push_str(EXTENSION);
        self.dir.join(name)
    }

    /// The live entry at `path`; expired and corrupted files are removed on the way.
    fn read_live(&self, path: &Path, header_only: bool) -> io::Result<Option<Stored>> {
        let mut file = match fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        if header_only {
            Read::by_ref(&mut file)
                .take(HEADER_LEN as u64)
                .read_to_end(&mut bytes)?;
        } else {
            file.read_to_end(&mut bytes)?;
        }
        let Some(expiry) = decode_header(&bytes) else {
            tracing::warn!(path = %path.display(), "removing a corrupted cache file");
            remove_if_present(path)?;
            return Ok(None);
        };
        if expiry.is_expired_at(SystemTime::now()) {
            remove_if_present(path)?;
            return Ok(None);
        }
        bytes.drain(..HEADER_LEN);
        Ok(Some(Stored {
            expiry,
            value: bytes,
        }))
    }

    /// Writes an entry to a temporary file in the cache directory, ready to be published.
    fn write_temp(&self, value: &[u8], expiry: Expiry) -> io::Result<PathBuf> {
        create_private_dir(&self.dir)?;
        let temp = self
            .dir
            .join(format!(".tmp-{:016x}", rand::random::<u64>()));
        let result = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(&encode_header(expiry))?;
            file.write_all(value)?;
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

    fn write(&self, path: &Path, value: &[u8], expiry: Expiry) -> io::Result<()> {
        let temp = self.write_temp(value, expiry)?;
        fs::rename(&temp, path).inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })
    }

    fn entry_files(&self) -> io::Result<Vec<PathBuf>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if is_entry_file(&path) {
                files.push(path);
            }
        }
        Ok(files)
    }

    fn cull(&self) -> io::Result<()> {
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

    fn set(&self, key: &str, value: &[u8], expiry: Expiry) -> io::Result<()> {
        self.cull()?;
        self.write(&self.path_for(key), value, expiry)
    }

    fn add(&self, key: &str, value: &[u8], expiry: Expiry) -> io::Result<bool> {
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
    fn lock_directory(&self) -> io::Result<fs::File> {
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
    fn compare_and_set(
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

    fn delete(&self, path: &Path) -> io::Result<bool> {
        let _lock = self.lock_directory()?;
        let live = self.read_live(path, true)?.is_some();
        Ok(remove_if_present(path)? && live)
    }

    fn rewrite(
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

fn remove_if_present(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl CacheBackend for FileBackend {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let path = self.inner.path_for(key);
        self.run(move |inner| {
            Ok(inner
                .read_live(&path, false)?
                .map(|stored| Bytes::from(stored.value)))
        })
        .await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        let paths: Vec<PathBuf> = keys.iter().map(|key| self.inner.path_for(key)).collect();
        self.run(move |inner| {
            paths
                .iter()
                .map(|path| Ok(inner.read_live(path, false)?.map(|s| Bytes::from(s.value))))
                .collect()
        })
        .await
    }

    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<()> {
        let key = key.to_owned();
        self.run(move |inner| inner.set(&key, &value, expiry)).await
    }

    async fn set_many(&self, entries: Vec<(String, Bytes)>, expiry: Expiry) -> Result<Vec<String>> {
        self.run(move |inner| {
            for (key, value) in &entries {
                inner.set(key, value, expiry)?;
            }
            Ok(Vec::new())
        })
        .await
    }

    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<bool> {
        let key = key.to_owned();
        self.run(move |inner| inner.add(&key, &value, expiry)).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let path = self.inner.path_for(key);
        self.run(move |inner| inner.delete(&path)).await
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: &[u8],
        new: Bytes,
        expiry: Expiry,
    ) -> Result<bool> {
        let key = key.to_owned();
        let expected = expected.to_vec();
        self.run(move |inner| inner.compare_and_set(&key, &expected, &new, expiry))
            .await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        let paths: Vec<PathBuf> = keys.iter().map(|key| self.inner.path_for(key)).collect();
        self.run(move |inner| {
            let _lock = inner.lock_directory()?;
            for path in &paths {
                remove_if_present(path)?;
            }
            Ok(())
        })
        .await
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        let key = key.to_owned();
        self.run(move |inner| {
            inner.rewrite(&key, |stored| {
                Ok(Stored {
                    expiry,
                    value: stored.value,
                })
            })
        })
        .await
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let owned = key.to_owned();
        let outcome = self
            .run(move |inner| {
                let mut outcome = None;
                let found = inner.rewrite(&owned, |stored| {
                    let result = checked_increment(&owned, &stored.value, delta);
                    let value = match &result {
                        Ok(new) => new.to_string().into_bytes(),
                        Err(_) => stored.value,
                    };
                    outcome = Some(result);
                    Ok(Stored {
                        expiry: stored.expiry,
                        value,
                    })
                })?;
                Ok(if found { outcome } else { None })
            })
            .await?;
        outcome.unwrap_or_else(|| {
            Err(Error::KeyNotFound {
                key: key.to_owned(),
            })
        })
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        let path = self.inner.path_for(key);
        self.run(move |inner| Ok(inner.read_live(&path, true)?.is_some()))
            .await
    }

    async fn clear(&self) -> Result<()> {
        self.run(|inner| {
            for path in inner.entry_files()? {
                remove_if_present(&path)?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> (tempfile::TempDir, FileBackend) {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = FileBackend::new(dir.path().join("cache")).expect("backend");
        (dir, backend)
    }

    #[cfg(unix)]
    #[test]
    fn directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, backend) = backend();
        let mode = fs::metadata(backend.dir())
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    /// Two backends on one directory stand for two processes: their swaps exclude each other through the
    /// directory's `flock`, not through anything in memory.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn compare_and_set_is_atomic_across_backends_sharing_a_directory() {
        let (dir, one) = backend();
        let two = FileBackend::new(dir.path().join("cache")).expect("second backend");
        one.set("n", Bytes::from_static(b"0"), Expiry::Never)
            .await
            .expect("set");
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let backend = if i % 2 == 0 { one.clone() } else { two.clone() };
                tokio::spawn(async move {
                    loop {
                        let current = backend.get("n").await.expect("get").expect("present");
                        let next: u64 = std::str::from_utf8(&current)
                            .expect("text")
                            .parse::<u64>()
                            .expect("number")
                            + 1;
                        let swapped = backend
                            .compare_and_set(
                                "n",
                                &current,
                                Bytes::from(next.to_string()),
                                Expiry::Never,
                            )
                            .await
                            .expect("compare_and_set");
                        if swapped {
                            return;
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        assert_eq!(
            one.get("n").await.expect("get").as_deref(),
            Some(&b"20"[..])
        );
        assert!(
            !one.inner
                .entry_files()
                .expect("list")
                .iter()
                .any(|p| p.ends_with(LOCK_FILE)),
            "the lock file is not an entry"
        );
    }

    #[tokio::test]
    async fn a_stuck_lock_holder_makes_writes_fail_not_hang() {
        let (_dir, backend) = backend();
        backend
            .set("k", Bytes::from_static(b"v"), Expiry::Never)
            .await
            .expect("set");
        // Another process holding the lock: a separately opened file description, as a process has.
        let holder = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(backend.dir().join(LOCK_FILE))
            .expect("open lock file");
        holder.lock().expect("lock");
        let started = std::time::Instant::now();
        let result = backend
            .compare_and_set("k", b"v", Bytes::from_static(b"w"), Expiry::Never)
            .await;
        assert!(matches!(result, Err(Error::Backend { .. })), "{result:?}");
        assert!(started.elapsed() >= LOCK_WAIT);
        assert!(
            backend.delete("k").await.is_err(),
            "delete waits for the lock too"
        );
        // Reads never lock.
        assert_eq!(
            backend.get("k").await.expect("get").as_deref(),
            Some(&b"v"[..])
        );
        holder.unlock().expect("unlock");
        assert!(backend
            .compare_and_set("k", b"v", Bytes::from_static(b"w"), Expiry::Never)
            .await
            .expect("after the holder let go"));
    }

    #[tokio::test]
    async fn corrupted_files_are_misses_and_removed() {
        let (_dir, backend) = backend();
        for (key, content) in [("short", &b"TDC"[..]), ("magic", &b"XXXX00000000value"[..])] {
            let path = backend.path_for(key);
            fs::write(&path, content).expect("write");
            assert_eq!(backend.get(key).await.expect("get"), None);
            assert!(!path.exists(), "{key}: corrupted file kept");
            assert!(!backend.has_key(key).await.expect("has_key"));
        }
        let path = backend.path_for("empty");
        fs::write(&path, b"").expect("write");
        assert_eq!(backend.get("empty").await.expect("get"), None);
    }

    #[tokio::test]
    async fn clear_keeps_other_files() {
        let (_dir, backend) = backend();
        let other = backend.dir().join("keep.txt");
        fs::write(&other, b"mine").expect("write");
        backend
            .set("k", Bytes::from_static(b"v"), Expiry::Never)
            .await
            .expect("set");
        backend.clear().await.expect("clear");
        assert!(other.exists());
        assert!(backend.dir().exists());
        assert_eq!(backend.get("k").await.expect("get"), None);
    }

    #[tokio::test]
    async fn a_removed_directory_is_recreated_on_write() {
        let (_dir, backend) = backend();
        fs::remove_dir_all(backend.dir()).expect("remove");
        assert_eq!(backend.get("k").await.expect("get on a missing dir"), None);
        backend
            .set("k", Bytes::from_static(b"v"), Expiry::Never)
            .await
            .expect("set recreates the directory");
        assert!(backend.get("k").await.expect("get").is_some());
    }

    #[tokio::test]
    async fn cull_frequency_zero_clears() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = FileBackend::builder(dir.path())
            .max_entries(5)
            .cull_frequency(0)
            .build()
            .expect("backend");
        for i in 0..5 {
            backend
                .set(&format!("k{i}"), Bytes::from_static(b"v"), Expiry::Never)
                .await
                .expect("set");
        }
        backend
            .set("last", Bytes::from_static(b"v"), Expiry::Never)
            .await
            .expect("set");
        assert_eq!(backend.inner.entry_files().expect("list").len(), 1);
    }

    #[test]
    fn an_unusable_directory_is_a_config_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a-file");
        fs::write(&file, b"x").expect("write");
        for bad in [file.clone(), file.join("below")] {
            match FileBackend::new(&bad) {
                Err(Error::Config(message)) => {
                    assert!(message.contains("cannot create"), "{message}")
                }
                other => panic!(
                    "expected a config error for {}, got {other:?}",
                    bad.display()
                ),
            }
        }
    }

    #[tokio::test]
    async fn an_unwritable_location_is_a_backend_error_not_a_panic() {
        // Replacing the directory with a plain file makes every write fail, even for root (permission
        // bits do not stop root).
        let (_dir, backend) = backend();
        fs::remove_dir_all(backend.dir()).expect("remove");
        fs::write(backend.dir(), b"not a directory").expect("write");
        let err = backend
            .set("k", Bytes::from_static(b"v"), Expiry::Never)
            .await
            .expect_err("cannot write into a file");
        assert!(err.is_backend(), "{err}");
        assert!(backend.add("k", Bytes::new(), Expiry::Never).await.is_err());
        let read = backend.get("k").await;
        assert!(
            matches!(read, Ok(None) | Err(Error::Backend { .. })),
            "{read:?}"
        );
    }
}
