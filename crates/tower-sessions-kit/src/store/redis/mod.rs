//! [`RedisStore`]: each session a Redis hash, written by applying the request's changes in one script.

mod fields;
mod scripts;
mod users;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use cache_core::backends::redis::driver::{self, Value};
use cache_core::backends::redis::ScriptCall;
use cache_core::backends::RedisBackend;

use super::batch::{self, Batch, Runner};
use super::load_batch::{self, BatchSource, LoadBatch};
use super::{
    create_with_retries, ImmediateLoads, Loaded, SaveRequest, Saved, SessionStore, StoreError,
    DEFAULT_DEADLINE,
};
use crate::deadline::{nonzero, within, Deadline, Within};
use crate::error::InvalidSetting;
use crate::expiry::{self, unix_millis};
use crate::key::SessionKey;
use crate::record::user_of;
use crate::record::Data;
use crate::store::contract::UserIndex;
use fields::{decode_hash, encode_value, field_of, reply_size};

const NAME: &str = "redis";

/// The default prefix of session keys, after the backend's namespace: `cache:session:<key>` with a
/// backend of the default namespace.
pub const DEFAULT_PREFIX: &str = "session:";

/// Random 165-bit keys do not collide; a few attempts cover a broken RNG being noticed.
const CREATE_ATTEMPTS: u32 = 10;

/// Sessions in Redis or Redis Cluster, each kept as a **hash**: one field per data key holding the value's
/// JSON, the session's expiry as the key's TTL. Writes cost what the request changed, not the session's
/// size, and concurrent writers of one session never conflict:
///
/// | operation | Redis |
/// |-----------|-------|
/// | `load` | `HGETALL`; loads arriving while one is waiting are sent together in one pipeline, a session asked for twice read once; with the backend's client-side cache, nothing for a session held in it |
/// | `save` | one pipeline: `HSET` the keys set, `HDEL` the keys removed, `PEXPIREAT`, and a check that the session still exists; saves arriving while one is in flight are sent together; a save that clears, and every save on a cluster, is one `EVALSHA` of a script doing the same |
/// | `create` | one `EVALSHA`: the hash and its expiry, unless the key is taken |
/// | `delete` | one `EVALSHA` (`UNLINK`); for a logged-in session, a `ZREM` from its user's index |
///
/// - **No lost writes, no retries.** Two requests writing different keys of one session both keep their
///   writes, each save applied by Redis atomically; writing the same key, the last save wins. A save never
///   re-reads the session and never retries for contention: it sends only the changed keys.
/// - **Deleted stays deleted.** A session exists while its hash has the marker field (`"\0"`), written only
///   by `create`. A save of a session deleted meanwhile (logout, `flush`, `cycle_key`, revoked) or expired
///   is [`StoreError::Gone`], never a re-created session: what its `HSET` wrote has no marker, is taken for
///   a session by no load or save, and is removed at once.
/// - **Scripts by SHA1.** Scripts are sent with `EVALSHA`; their text crosses the network only when a
///   server lacks it (after a restart or `SCRIPT FLUSH`).
/// - **Cluster.** Each session is one key, so each script runs on the node owning it; the batched loads
///   are sent concurrently to their nodes.
/// - **Client-side cache.** On a backend built with
///   [`client_side_cache`](cache_core::backends::redis::RedisBackendBuilder::client_side_cache), sessions
///   read are kept decoded in process memory and answered from there, with no round trip and no
///   decoding, until Redis reports the session changed, expired or deleted by anyone (loads that miss
///   also read its `PTTL`, so a copy never outlives the session). A process reads its own saves and
///   deletes at once; another process's arrive with their invalidation, which Redis sends as the write
///   happens. Worth it when sessions are read far more often than written: a read of a held session
///   costs about what [`MemoryStore`](super::MemoryStore) costs, while a request that writes costs more
///   than without the cache (its read then always misses, and each save makes Redis send an
///   invalidation). Not on a cluster, where the backend has no client-side cache.
/// - **Sessions by user** ([`UserIndex`]): a logged-in session is also in its user's sorted set (scored
///   by its expiry, kept alive as long as its longest session); listing checks each member against the
///   session itself, dropping expired, deleted and cleared ones, so the index cannot list a session that
///   is not the user's.
/// - **Expiry** is the session's: a custom expiry, else the cookie age from each save; Redis removes
///   expired sessions itself, so `clear_expired` has nothing to do.
/// - **Deadline.** Every operation is bounded by one [deadline](Self::with_deadline) (default 1 s), besides
///   the backend's own timeout. A save abandoned at its deadline may still be applied if Redis received
///   it; a save applies changes, so applying it again changes nothing.
/// - Keys live under the backend's namespace and this store's prefix: `clear` on a cache sharing the
///   backend's namespace deletes sessions too. Give the store a backend of its own namespace
///   (`?namespace=sessions:` in the URL) when a cache on the same server may be cleared.
///
/// Clones share the connection pool.
#[derive(Debug, Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: RedisBackend,
    /// Namespace and prefix: a session's key is this plus the session key.
    prefix: String,
    /// The prefix alone (a made key of the backend: what its client-side cache knows keys by).
    made_prefix: String,
    deadline: Duration,
    /// Loads arriving while one runs, read together.
    batch: LoadBatch<Arc<Data>>,
    /// Saves arriving while one runs, sent together in one pipeline.
    saves: Batch<SaveCommands, bool>,
}

impl RedisStore {
    /// Sessions on `backend` (sharing its pool with any cache on it), under [`DEFAULT_PREFIX`].
    pub fn new(backend: RedisBackend) -> Self {
        RedisStore::with_prefix(backend, DEFAULT_PREFIX)
    }

    /// Sessions on `backend` under keys `"{namespace}{prefix}{key}"`.
    pub fn with_prefix(backend: RedisBackend, prefix: &str) -> Self {
        RedisStore {
            inner: Arc::new(Inner {
                prefix: backend.namespaced_key(prefix),
                made_prefix: prefix.to_owned(),
                backend,
                deadline: DEFAULT_DEADLINE,
                batch: LoadBatch::default(),
                saves: Batch::default(),
            }),
        }
    }

    /// Sessions on the Redis at `url` (`redis://…`, `rediss://…`, `redis+cluster://…`; the options of
    /// [`RedisBackend::builder`], `namespace` included).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for a URL the backend refuses (nothing is connected yet).
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let backend = RedisBackend::from_url(url).map_err(backend_error)?;
        Ok(RedisStore::new(backend))
    }

    /// Bounds every operation by `deadline` (default [`DEFAULT_DEADLINE`], 1 s); also the store's
    /// [`SessionStore::deadline`]. `Duration::MAX` means none.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting::ZeroDeadline`] for zero.
    pub fn with_deadline(self, deadline: Duration) -> Result<Self, InvalidSetting> {
        let deadline = nonzero(deadline, "session store deadline")?;
        let inner = Inner {
            backend: self.inner.backend.clone(),
            prefix: self.inner.prefix.clone(),
            made_prefix: self.inner.made_prefix.clone(),
            deadline,
            batch: LoadBatch::default(),
            saves: Batch::default(),
        };
        Ok(RedisStore {
            inner: Arc::new(inner),
        })
    }

    /// The backend sessions are kept on.
    pub fn backend(&self) -> &RedisBackend {
        &self.inner.backend
    }

    /// The Redis key of a session.
    fn session_key(&self, key: &str) -> String {
        let mut stored = String::with_capacity(self.inner.prefix.len() + key.len());
        stored.push_str(&self.inner.prefix);
        stored.push_str(key);
        stored
    }

    /// `operation`, abandoned with [`StoreError::TimedOut`] at the deadline.
    ///
    /// A plain function, not an `async fn`: that would keep `operation` in its own state beside the
    /// `Within` holding it, doubling the size of every store future built on it.
    fn bounded<F, T>(&self, operation: F) -> Within<F>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        within(NAME, Deadline::after(self.inner.deadline), operation)
    }

    /// Sends one command, safe to repeat (reads, `UNLINK`, `ZREM`).
    async fn command(&self, cmd: &driver::Cmd) -> Result<Value, StoreError> {
        self.inner
            .backend
            .command(cmd, true)
            .await
            .map_err(backend_error)
    }

    /// Sends commands safe to repeat in one round trip; each one's reply, in order.
    async fn commands(&self, commands: &[driver::Cmd]) -> Result<Vec<Value>, StoreError> {
        self.inner
            .backend
            .commands(commands, true)
            .await
            .map_err(backend_error)
    }

    /// Runs script calls in one round trip.
    async fn eval(
        &self,
        calls: &[ScriptCall<'_>],
        idempotent: bool,
    ) -> Result<Vec<Value>, StoreError> {
        self.inner
            .backend
            .eval_all(calls, idempotent)
            .await
            .map_err(backend_error)
    }

    /// The made key of a session (its Redis key without the backend's namespace).
    fn made_key(&self, key: &str) -> String {
        let mut made = String::with_capacity(self.inner.made_prefix.len() + key.len());
        made.push_str(&self.inner.made_prefix);
        made.push_str(key);
        made
    }
}

/// The command `name` with room for `args` more arguments of `bytes` bytes in all, so that building it
/// never regrows its buffers: each regrowth is an allocation, and on a busy server allocations from
/// several threads contend in the allocator (most of this store's lock waits were those).
fn sized_cmd(name: &str, args: usize, bytes: usize) -> driver::Cmd {
    let mut cmd = driver::Cmd::with_capacity(args + 1, name.len() + bytes);
    cmd.arg(name);
    cmd
}

fn backend_error(error: cache_core::Error) -> StoreError {
    StoreError::backend(NAME, error)
}

/// A script's integer reply.
fn int_reply(reply: &Value) -> Result<i64, StoreError> {
    match reply {
        Value::Int(n) => Ok(*n),
        other => Err(StoreError::backend(
            NAME,
            format!("unexpected reply from a session script: {other:?}"),
        )),
    }
}

/// A text reply (`None` for nil).
fn text_reply(reply: Value) -> Option<String> {
    match reply {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text),
        _ => None,
    }
}

/// When a session expires, in Unix milliseconds, and how many milliseconds that is from `now`.
fn expires(data: &Data, now: SystemTime, cookie_age: Duration) -> (i64, i64) {
    let at = expiry::date(data, now, cookie_age);
    let left = at.duration_since(now).map_or(0, |left| {
        i64::try_from(left.as_millis()).unwrap_or(i64::MAX)
    });
    (unix_millis(at), left)
}

impl RedisStore {
    /// A save without a clear, on a standalone server: `HSET` the set keys, `HDEL` the removed ones,
    /// `PEXPIREAT`, then `HEXISTS` of the marker, pipelined (cheaper for Redis than a script, and for
    /// both sides than a `MULTI`/`EXEC` around them). No marker at the end means the session was deleted
    /// or expired before or during the save, and the `HSET` may have made a hash without one, which no
    /// load or save takes for a session: it is removed and the save is [`StoreError::Gone`], as if the
    /// deletion had come first. A delete between the commands ends the same way; the `PEXPIREAT` is sent
    /// with the `HSET`, so even a hash left by a process that died mid-save expires. A logged-in
    /// session's index entry is re-scored next.
    #[allow(clippy::too_many_arguments)]
    async fn save_in_transaction(
        &self,
        session: &str,
        set: &[(std::borrow::Cow<'_, str>, Vec<u8>)],
        removed: &[std::borrow::Cow<'_, str>],
        at: i64,
        index: Option<&str>,
        key: &SessionKey,
        left: i64,
    ) -> Result<Saved, StoreError> {
        let mut commands = Vec::with_capacity(4);
        if !set.is_empty() {
            let bytes: usize = set.iter().map(|(f, v)| f.len() + v.len()).sum();
            let mut hset = sized_cmd("HSET", 1 + 2 * set.len(), session.len() + bytes);
            hset.arg(session);
            for (field, value) in set {
                hset.arg(field.as_bytes()).arg(&value[..]);
            }
            commands.push(hset);
        }
        if !removed.is_empty() {
            let mut hdel = driver::cmd("HDEL");
            hdel.arg(session);
            for field in removed {
                hdel.arg(field.as_bytes());
            }
            commands.push(hdel);
        }
        let mut pexpireat = sized_cmd("PEXPIREAT", 2, session.len() + 20);
        pexpireat.arg(session).arg(at);
        commands.push(pexpireat);
        let mut marked = sized_cmd("HEXISTS", 2, session.len() + fields::MARKER.len());
        marked.arg(session).arg(fields::MARKER);
        commands.push(marked);
        let save = SaveCommands {
            made: (self.inner.backend.has_client_side_cache()).then(|| self.made_key(key.as_str())),
            commands,
        };
        let existed = batch::submit(&Saves(self.clone()), save).await?;
        if let Some(index) = index {
            self.eval(&[self.index_call(index, key.as_str(), at, left)], true)
                .await?;
        }
        if existed {
            return Ok(Saved::default());
        }
        let mut unlink = driver::cmd("UNLINK");
        unlink.arg(session);
        self.command(&unlink).await?;
        Err(StoreError::Gone)
    }
}

/// One save's commands, and the made key of the session they write when a client-side cache must
/// forget it (`None` without one: nothing to forget, nothing to allocate).
struct SaveCommands {
    made: Option<String>,
    commands: Vec<driver::Cmd>,
}

/// The saves of a [`RedisStore`] as a [`Runner`]: one save's commands alone, or many saves' in one
/// pipeline. The answer is whether the session's marker was there.
#[derive(Clone)]
struct Saves(RedisStore);

/// Whether the reply of the marker check (`HEXISTS`, last of a save's commands) found it.
fn marker_found(reply: Option<&Value>) -> Result<bool, StoreError> {
    Ok(reply.map(int_reply).transpose()? == Some(1))
}

impl Saves {
    /// Sends `saves` in one pipeline; each save's marker check.
    async fn send(&self, saves: &[&SaveCommands]) -> Result<Vec<bool>, StoreError> {
        let mut pipeline =
            driver::Pipeline::with_capacity(saves.iter().map(|save| save.commands.len()).sum());
        for save in saves {
            for cmd in &save.commands {
                pipeline.add_command(cmd.clone());
            }
        }
        let written: Vec<&str> = saves
            .iter()
            .filter_map(|save| save.made.as_deref())
            .collect();
        let replies = self
            .0
            .inner
            .backend
            .write_pipeline(pipeline, true, &written)
            .await
            .map_err(backend_error)?;
        let mut end = 0;
        saves
            .iter()
            .map(|save| {
                end += save.commands.len();
                marker_found(replies.get(end - 1))
            })
            .collect()
    }
}

impl Runner for Saves {
    type Request = SaveCommands;
    type Reply = bool;

    fn queue(&self) -> &Batch<SaveCommands, bool> {
        &self.0.inner.saves
    }

    async fn run_one(&self, save: &SaveCommands) -> Result<bool, StoreError> {
        let found = self.send(&[save]).await?;
        Ok(found.first().copied().unwrap_or(false))
    }

    async fn run_many(&self, saves: &[&SaveCommands]) -> Result<Vec<bool>, StoreError> {
        self.send(saves).await
    }
}

impl BatchSource for RedisStore {
    type Row = Arc<Data>;

    fn batch(&self) -> &LoadBatch<Arc<Data>> {
        &self.inner.batch
    }

    async fn fetch_one(&self, key: &SessionKey) -> Result<Option<Arc<Data>>, StoreError> {
        self.inner
            .backend
            .read_through("HGETALL", &self.made_key(key.as_str()), decode_session)
            .await
            .map_err(backend_error)
    }

    async fn fetch_many(&self, keys: &[&str]) -> Result<HashMap<String, Arc<Data>>, StoreError> {
        let made: Vec<String> = keys.iter().map(|key| self.made_key(key)).collect();
        let made: Vec<&str> = made.iter().map(String::as_str).collect();
        let values = self
            .inner
            .backend
            .read_through_many("HGETALL", &made, decode_session)
            .await
            .map_err(backend_error)?;
        Ok(keys
            .iter()
            .zip(values)
            .filter_map(|(key, value)| Some(((*key).to_owned(), value?)))
            .collect())
    }
}

/// A session from its `HGETALL` reply, and the bytes it stands for in a client-side cache.
fn decode_session(reply: Value) -> Option<(Data, usize)> {
    let size = reply_size(&reply);
    decode_hash(NAME, reply).map(|data| (data, size))
}

#[async_trait]
impl SessionStore for RedisStore {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The [deadline](RedisStore::with_deadline).
    fn deadline(&self) -> Option<Duration> {
        Some(self.inner.deadline)
    }

    fn users(&self) -> Option<&dyn UserIndex> {
        Some(self)
    }

    /// With the backend's client-side cache, a session held in it is answered at once.
    fn immediate(&self) -> Option<&dyn ImmediateLoads> {
        self.inner
            .backend
            .has_client_side_cache()
            .then_some(self as &dyn ImmediateLoads)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        Ok(self
            .bounded(load_batch::load(self, key))
            .await?
            .map(Loaded::shared))
    }

    async fn create(&self, data: &Data, cookie_age: Duration) -> Result<SessionKey, StoreError> {
        let (at, left) = expires(data, SystemTime::now(), cookie_age);
        let values: Vec<(std::borrow::Cow<'_, str>, Vec<u8>)> = data
            .iter()
            .map(|(key, value)| (field_of(key), encode_value(value)))
            .collect();
        let user = user_of(data);
        let create = async {
            let key = create_with_retries(NAME, CREATE_ATTEMPTS, |key| {
                let values = &values;
                async move {
                    let session = self.session_key(key.as_str());
                    let mut call = scripts::CREATE.call().key(&session).arg(at);
                    for (field, value) in values {
                        call = call.arg(field.as_bytes()).arg(&value[..]);
                    }
                    // Alone: a create is not safe to send twice (see `RedisBackend::eval_all`).
                    let replies = self.eval(&[call], false).await?;
                    let created = replies.first().map(int_reply).transpose()?;
                    Ok(created == Some(1))
                }
            })
            .await?;
            if let Some(user) = user {
                let index = self.index_key(user);
                let call = self.index_call(&index, key.as_str(), at, left);
                self.eval(&[call], true).await?;
            }
            Ok(key)
        };
        self.bounded(create).await
    }

    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        let now = SystemTime::now();
        let (at, left) = expires(request.data, now, request.cookie_age);
        if left <= 0 {
            // A custom expiry already in the past: the session ends now.
            self.delete(key).await?;
            return Ok(Saved::default());
        }
        let session = self.session_key(key.as_str());
        let changes = request.changes;
        let mut set = Vec::new();
        let mut removed = Vec::new();
        for (name, value) in changes.writes() {
            match value {
                Some(value) => set.push((field_of(name), encode_value(value))),
                None => removed.push(field_of(name)),
            }
        }
        // A logged-in session's index entry follows its expiry, in the same round trip.
        let index = user_of(request.data).map(|user| self.index_key(user));
        let save = async {
            if !changes.cleared() && !self.inner.backend.is_cluster() {
                return self
                    .save_in_transaction(&session, &set, &removed, at, index.as_deref(), key, left)
                    .await;
            }
            let mut call = scripts::SAVE
                .call()
                .key(&session)
                .arg(at)
                .arg(if changes.cleared() { "1" } else { "0" })
                .arg(set.len());
            for (field, value) in &set {
                call = call.arg(field.as_bytes()).arg(&value[..]);
            }
            for field in &removed {
                call = call.arg(field.as_bytes());
            }
            let mut calls = vec![call];
            if let Some(index) = &index {
                calls.push(self.index_call(index, key.as_str(), at, left));
            }
            let replies = self.eval(&calls, true).await?;
            match replies.first().map(int_reply).transpose()? {
                Some(1) => Ok(Saved::default()),
                _ => Err(StoreError::Gone),
            }
        };
        self.bounded(save).await
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        let delete = async {
            let session = self.session_key(key.as_str());
            let call = scripts::DELETE
                .call()
                .key(&session)
                .arg(field_of(crate::record::USER_KEY).as_bytes());
            let reply = self.eval(&[call], true).await?.into_iter().next();
            let user = reply
                .and_then(text_reply)
                .and_then(|json| serde_json::from_str::<String>(&json).ok());
            if let Some(user) = user {
                self.unindex(&user, &[key.as_str()]).await?;
            }
            Ok(())
        };
        self.bounded(delete).await
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let exists = async {
            let mut cmd = driver::cmd("HEXISTS");
            cmd.arg(self.session_key(key.as_str())).arg(fields::MARKER);
            let reply = self.command(&cmd).await?;
            Ok(int_reply(&reply)? > 0)
        };
        self.bounded(exists).await
    }

    /// Redis expires sessions itself.
    async fn clear_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}

impl ImmediateLoads for RedisStore {
    /// A session held by the backend's client-side cache; `None` (await `load`) for any other.
    fn load_now(&self, key: &SessionKey) -> Option<Result<Option<Loaded>, StoreError>> {
        let held = self
            .inner
            .backend
            .read_through_now::<Data>(&self.made_key(key.as_str()))?;
        Some(Ok(held.map(Loaded::shared)))
    }
}
