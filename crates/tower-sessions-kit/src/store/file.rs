//! [`FileStore`]: one file per session (Django's `file` engine).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{
    create_with_retries, Loaded, SaveRequest, Saved, SessionStore, StoreError, DEFAULT_DEADLINE,
};
use crate::deadline::nonzero;
use crate::error::InvalidSetting;
use crate::expiry::{self, unix_millis};
use crate::key::SessionKey;
use crate::record::Data;

const NAME: &str = "file";

/// Django names session files after the cookie: `<dir>/sessionid<key>`.
pub(crate) const DEFAULT_PREFIX: &str = "sessionid";

const CREATE_ATTEMPTS: u32 = 10;

/// Sessions as files in one directory: `<dir>/<prefix><key>`, each holding
/// `{"expire_date": <Unix ms>, "data": {…}}`.
///
/// - **Keys are validated on every operation** (8–40 characters of `[a-z0-9]`), so no key can name a path
///   outside the directory (`/`, `\`, `..` never pass); an invalid key is "no such session".
/// - Writes are atomic: the new content goes to a temporary file in the same directory, then is renamed
///   over the session file (`create` links it into place instead, which fails if the key exists, so a
///   collision never overwrites). Files are created with mode 0600 on Unix.
/// - `load` of an expired session deletes its file.
/// - **Does not merge concurrent writes atomically**: `save` reads the file, applies this request's changes
///   and renames the result into place, without a lock. Two requests saving one session at the same
///   instant can lose one's changes; use [`DatabaseStore`](super::DatabaseStore) or a
///   [`CacheStore`](super::CacheStore) on memory/Redis where that matters. Likewise a session deleted
///   between the existence check and the rename can be re-created by that save.
/// - `clear_expired` reads every session file and deletes the expired ones.
/// - **Deadline.** The layer holds each request phase to the store's [deadline](Self::with_deadline)
///   (default 1 s), so a file system that hangs (a network mount) fails requests instead of blocking
///   them. The file operations themselves run on Tokio's blocking threads and finish on their own: a save
///   abandoned at the deadline may still be renamed into place, or leave its temporary file
///   (`.<prefix>tmp-…`) behind.
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
    deadline: Duration,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    prefix: String,
}

#[derive(Serialize, Deserialize)]
struct FileRecord {
    expire_date: i64,
    data: Data,
}

impl FileStore {
    /// Sessions in `dir`, which must exist (Django's `ImproperlyConfigured` otherwise: a typo should fail
    /// at start-up, not scatter sessions elsewhere).
    pub fn new(dir: impl Into<PathBuf>) -> Result<FileStore, StoreError> {
        FileStore::with_prefix(dir, DEFAULT_PREFIX)
    }

    /// Like [`FileStore::new`], naming files `<prefix><key>`. The prefix may only hold ASCII letters,
    /// digits, `_`, `-` and `.` (it becomes part of file names).
    pub fn with_prefix(
        dir: impl Into<PathBuf>,
        prefix: impl Into<String>,
    ) -> Result<FileStore, StoreError> {
        let dir = dir.into();
        let prefix = prefix.into();
        if !dir.is_dir() {
            return Err(StoreError::backend(
                NAME,
                format!(
                    "the session directory {} does not exist or is not a directory",
                    dir.display()
                ),
            ));
        }
        let prefix_ok = prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
            && !prefix.starts_with('.');
        if !prefix_ok {
            return Err(StoreError::backend(
                NAME,
                format!("invalid session file prefix {prefix:?}"),
            ));
        }
        Ok(FileStore {
            inner: Arc::new(Inner { dir, prefix }),
            deadline: DEFAULT_DEADLINE,
        })
    }

    /// The store's [`SessionStore::deadline`] (default [`DEFAULT_DEADLINE`], 1 s), which the layer holds
    /// each request phase to. `Duration::MAX` means none.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting::ZeroDeadline`] for a zero `deadline`, which would fail every call that has to
    /// wait.
    pub fn with_deadline(mut self, deadline: Duration) -> Result<Self, InvalidSetting> {
        self.deadline = nonzero(deadline, "session store deadline")?;
        Ok(self)
    }

    /// The directory sessions are kept in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The file of `key`, or `None` for a key that must not become a path.
    fn path(&self, key: &str) -> Option<PathBuf> {
        SessionKey::is_well_formed(key)
            .then(|| self.inner.dir.join(format!("{}{key}", self.inner.prefix)))
    }

    fn temp_path(&self) -> Result<PathBuf, StoreError> {
        let nonce = SessionKey::generate().map_err(|error| StoreError::backend(NAME, error))?;
        Ok(self
            .inner
            .dir
            .join(format!(".{}tmp-{}", self.inner.prefix, nonce.as_str())))
    }

    async fn write_temp(&self, record: &FileRecord) -> Result<PathBuf, StoreError> {
        use tokio::io::AsyncWriteExt;
        let bytes = serde_json::to_vec(record).map_err(|error| StoreError::backend(NAME, error))?;
        let temp = self.temp_path()?;
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let written = async {
            let mut file = options.open(&temp).await?;
            file.write_all(&bytes).await?;
            file.sync_data().await?;
            Ok::<_, std::io::Error>(())
        }
        .await;
        if let Err(error) = written {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(StoreError::backend(NAME, error));
        }
        Ok(temp)
    }

    async fn read(&self, path: &Path) -> Result<Option<FileRecord>, StoreError> {
        match tokio::fs::read(path).await {
            Ok(bytes) => Ok(Some(decode_file(&bytes))),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(StoreError::backend(NAME, error)),
        }
    }
}

/// A session file's content; unreadable content is an empty session that has not expired (with a
/// warning), as Django treats corrupted data.
fn decode_file(bytes: &[u8]) -> FileRecord {
    match serde_json::from_slice::<FileRecord>(bytes) {
        Ok(record) => record,
        Err(error) => {
            tracing::warn!(store = NAME, %error, "session data corrupted: using an empty session");
            FileRecord {
                expire_date: i64::MAX,
                data: Data::new(),
            }
        }
    }
}

fn record_for(data: &Data, cookie_age: Duration) -> FileRecord {
    FileRecord {
        expire_date: unix_millis(expiry::date(data, SystemTime::now(), cookie_age)),
        data: data.clone(),
    }
}

#[async_trait]
impl SessionStore for FileStore {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The [deadline](FileStore::with_deadline).
    fn deadline(&self) -> Option<Duration> {
        Some(self.deadline)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        let Some(path) = self.path(key.as_str()) else {
            return Ok(None);
        };
        let Some(record) = self.read(&path).await? else {
            return Ok(None);
        };
        if record.expire_date <= unix_millis(SystemTime::now()) {
            let _ = tokio::fs::remove_file(&path).await;
            return Ok(None);
        }
        Ok(Some(Loaded::new(record.data)))
    }

    async fn create(&self, data: &Data, cookie_age: Duration) -> Result<SessionKey, StoreError> {
        let record = record_for(data, cookie_age);
        let temp = self.write_temp(&record).await?;
        let created = create_with_retries(NAME, CREATE_ATTEMPTS, |key| {
            let temp = temp.clone();
            async move {
                let Some(path) = self.path(key.as_str()) else {
                    return Ok(false);
                };
                match tokio::fs::hard_link(&temp, &path).await {
                    Ok(()) => Ok(true),
                    Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(false),
                    Err(error) => Err(StoreError::backend(NAME, error)),
                }
            }
        })
        .await;
        let _ = tokio::fs::remove_file(&temp).await;
        created
    }

    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        let Some(path) = self.path(key.as_str()) else {
            return Err(StoreError::Gone);
        };
        let Some(current) = self.read(&path).await? else {
            return Err(StoreError::Gone);
        };
        let mut data = current.data;
        request.changes.apply_to(&mut data);
        let record = record_for(&data, request.cookie_age);
        let temp = self.write_temp(&record).await?;
        if let Err(error) = tokio::fs::rename(&temp, &path).await {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(StoreError::backend(NAME, error));
        }
        Ok(Saved {
            new_key: None,
            merged: Some(Arc::new(data)),
        })
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        let Some(path) = self.path(key.as_str()) else {
            return Ok(());
        };
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
            Err(error) => Err(StoreError::backend(NAME, error)),
        }
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let Some(path) = self.path(key.as_str()) else {
            return Ok(false);
        };
        match tokio::fs::metadata(&path).await {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(false),
            Err(error) => Err(StoreError::backend(NAME, error)),
        }
    }

    async fn clear_expired(&self) -> Result<u64, StoreError> {
        let mut entries = tokio::fs::read_dir(&self.inner.dir)
            .await
            .map_err(|error| StoreError::backend(NAME, error))?;
        let now = unix_millis(SystemTime::now());
        let mut removed = 0;
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|error| StoreError::backend(NAME, error))?
        {
            let name = entry.file_name();
            let Some(key) = name
                .to_str()
                .and_then(|name| name.strip_prefix(self.inner.prefix.as_str()))
            else {
                continue;
            };
            let Some(path) = self.path(key) else { continue };
            if let Some(record) = self.read(&path).await? {
                if record.expire_date <= now && tokio::fs::remove_file(&path).await.is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}
