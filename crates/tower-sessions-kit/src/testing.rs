//! The store conformance suite: the [`SessionStore`] contract, written once, run against every store.
//!
//! [`conformance_suite!`](crate::conformance_suite) expands to one `#[tokio::test]` per behaviour, each
//! given a fresh [`Subject`] by your factory, so a failure names the behaviour and the store:
//!
//! ```ignore
//! tower_sessions_kit::conformance_suite!(|setup: tower_sessions_kit::testing::Setup| async move {
//!     let store = DatabaseStore::builder("sqlite::memory:").table(setup.unique.clone()).connect().await.unwrap();
//!     store.migrate().await.unwrap();
//!     Some(Subject::new(store))
//! });
//! ```
//!
//! A factory returns `None` to skip (a server that is not configured; say so on stderr, e.g. through
//! `cache_core::testing::server_url`). Every check uses only the public trait.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::expiry::{SessionExpiry, EXPIRY_KEY};
use crate::key::SessionKey;
use crate::record::{Changes, Data};
use crate::store::{Loaded, SaveRequest, Saved};
use crate::users::{UserIndex, USER_KEY};
use crate::{SessionStore, StoreError};

/// What the suite gives a factory.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The behaviour under test.
    pub name: &'static str,
    /// A name unique to this test and run (`[a-z0-9_]`, at most 60 characters), usable as a table name,
    /// directory or key prefix so that tests sharing a server never see each other's sessions.
    pub unique: String,
}

/// A store under test and what it promises.
#[derive(Clone)]
pub struct Subject {
    /// The store.
    pub store: Arc<dyn SessionStore>,
    /// Whether concurrent saves of different keys all survive (not the file and signed-cookie stores).
    pub merges: bool,
    /// Whether records live on the server (not the signed-cookie store): deletion, `Gone` and
    /// `clear_expired` then apply.
    pub server_side: bool,
    /// Whether the store keeps sessions by user ([`SessionStore::users`]); when not, the suite checks
    /// that it says so.
    pub users: bool,
}

/// Names the store (a store need not be `Debug`) and what it promises.
impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, merges, server_side, users) =
            (self.store.name(), self.merges, self.server_side, self.users);
        write!(
            f,
            "Subject({name}, merges: {merges}, server_side: {server_side}, users: {users})"
        )
    }
}

impl Subject {
    /// A server-side store that merges concurrent saves.
    pub fn new(store: impl SessionStore) -> Self {
        Subject {
            store: Arc::new(store),
            merges: true,
            server_side: true,
            users: false,
        }
    }

    /// Marks the store as keeping sessions by user: the suite lists and revokes them.
    pub fn with_users(mut self) -> Self {
        self.users = true;
        self
    }

    /// Marks the store as last-writer-wins for whole records.
    pub fn without_merge(mut self) -> Self {
        self.merges = false;
        self
    }

    /// Marks the store as keeping sessions in the client (no server records).
    pub fn client_side(mut self) -> Self {
        self.server_side = false;
        self.merges = false;
        self
    }
}

/// A name unique to one test in one run: `[a-z0-9_]`, at most 51 characters.
pub fn unique_name(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000_000);
    let mut unique = format!("t{}_{nanos}_{name}", std::process::id());
    unique.retain(|c| c.is_ascii_alphanumeric() || c == '_');
    unique.make_ascii_lowercase();
    // Short enough for a session table name (51, `DatabaseStore`'s limit) and a cache namespace.
    unique.truncate(51);
    unique
}

const AGE: Duration = Duration::from_secs(3600);

fn data(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        _ => Data::new(),
    }
}

fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what} failed: {error}"),
    }
}

/// The record under `key`, by `load`; when the store also answers `load_now` (the layer's first try,
/// [`ImmediateLoads`](crate::store::ImmediateLoads)), that answer must be the same.
async fn load(s: &Subject, key: &SessionKey) -> Option<Data> {
    let answered_now = s
        .store
        .immediate()
        .and_then(|immediate| immediate.load_now(key))
        .map(|now| ok(now, "load_now").map(|loaded| Arc::unwrap_or_clone(loaded.data)));
    let loaded =
        ok(s.store.load(key).await, "load").map(|loaded| Arc::unwrap_or_clone(loaded.data));
    if let Some(now) = answered_now {
        assert_eq!(now, loaded, "load_now and load disagree");
    }
    loaded
}

/// `store.save` of `changes`, with `data` as the request's view and the load's `snapshot`; through
/// `save_now` when the store applies it at once ([`ImmediateSaves`](crate::store::ImmediateSaves)), as the
/// layer does, so every save rule of the suite holds for that path too.
async fn save_as(
    store: &dyn SessionStore,
    key: &SessionKey,
    (changes, data): (&Changes, &Data),
    snapshot: Option<&str>,
) -> Result<Saved, StoreError> {
    let request = SaveRequest {
        changes,
        data,
        cookie_age: AGE,
        snapshot,
    };
    let immediate = store.immediate_saves();
    match immediate.and_then(|immediate| immediate.save_now(key, request)) {
        Some(saved) => saved,
        None => store.save(key, request).await,
    }
}

/// Saves `changes` as the request that loaded `loaded` would: onto its view, with its snapshot.
async fn save_after(s: &Subject, key: &SessionKey, loaded: &Loaded, changes: &Changes, what: &str) {
    let mut view = Data::clone(&loaded.data);
    changes.apply_to(&mut view);
    let snapshot = loaded.snapshot.as_deref();
    ok(
        save_as(&*s.store, key, (changes, &view), snapshot).await,
        what,
    );
}

/// Saves `changes` applied onto `view` and returns the key to use from then on.
async fn save(s: &Subject, key: &SessionKey, view: &Data, changes: &Changes) -> SessionKey {
    let mut merged_view = view.clone();
    changes.apply_to(&mut merged_view);
    let saved = ok(
        save_as(&*s.store, key, (changes, &merged_view), None).await,
        "save",
    );
    saved.new_key.unwrap_or_else(|| key.clone())
}

/// `create` then `load` gives the data back; the record exists.
pub async fn create_then_load(s: Subject) {
    let original = data(json!({"user": 7, "name": "Zoë ✓", "nested": {"list": [1, null, "日本"]}}));
    let key = ok(s.store.create(&original, AGE).await, "create");
    assert_eq!(load(&s, &key).await, Some(original));
    assert!(ok(s.store.exists(&key).await, "exists"));
}

/// An unknown key loads nothing and creates nothing.
pub async fn unknown_keys_load_nothing(s: Subject) {
    let key = SessionKey::generate().expect("OS RNG");
    assert_eq!(load(&s, &key).await, None);
    assert!(!ok(s.store.exists(&key).await, "exists"));
    assert_eq!(load(&s, &key).await, None, "loading must not create");
}

/// Keys are distinct (and, for server-side stores, 32 characters of `[a-z0-9]`).
pub async fn created_keys_are_fresh(s: Subject) {
    let mut seen = HashSet::new();
    for i in 0..20 {
        let key = ok(s.store.create(&data(json!({"i": i})), AGE).await, "create");
        if s.server_side {
            assert!(SessionKey::is_well_formed(key.as_str()), "{key:?}");
            assert_eq!(key.as_str().len(), 32);
        }
        assert!(seen.insert(key), "duplicate key");
    }
}

/// `save` applies the changes: values set, keys removed.
pub async fn save_applies_changes(s: Subject) {
    let view = data(json!({"a": 1, "b": 2}));
    let key = ok(s.store.create(&view, AGE).await, "create");
    let mut changes = Changes::new();
    changes.set("c".into(), json!(3));
    changes.remove("b");
    changes.set("a".into(), json!("one"));
    let key = save(&s, &key, &view, &changes).await;
    assert_eq!(
        load(&s, &key).await,
        Some(data(json!({"a": "one", "c": 3})))
    );
}

/// A cleared change-set replaces everything stored.
pub async fn save_after_clear_replaces(s: Subject) {
    let view = data(json!({"a": 1, "b": 2}));
    let key = ok(s.store.create(&view, AGE).await, "create");
    let mut changes = Changes::new();
    changes.clear();
    changes.set("z".into(), json!(true));
    let key = save(&s, &key, &view, &changes).await;
    assert_eq!(load(&s, &key).await, Some(data(json!({"z": true}))));
}

/// Saving a deleted record fails with `Gone` and does not bring it back.
pub async fn save_of_deleted_record_is_gone(s: Subject) {
    if !s.server_side {
        return;
    }
    let view = data(json!({"a": 1}));
    let key = ok(s.store.create(&view, AGE).await, "create");
    ok(s.store.delete(&key).await, "delete");
    assert_eq!(load(&s, &key).await, None);
    let mut changes = Changes::new();
    changes.set("b".into(), json!(2));
    let result = save_as(&*s.store, &key, (&changes, &view), None).await;
    assert!(matches!(result, Err(StoreError::Gone)), "{result:?}");
    assert!(!ok(s.store.exists(&key).await, "exists"), "resurrected");
    ok(s.store.delete(&key).await, "deleting twice is fine");
}

/// For the checks of stores that merge: a new record `{"start": 0}` (`None` for the other stores).
async fn start_record(s: &Subject) -> Option<SessionKey> {
    if !s.merges {
        return None;
    }
    let created = s.store.create(&data(json!({"start": 0})), AGE).await;
    Some(ok(created, "create"))
}

/// Concurrent saves of one session, each setting its own key, all survive.
pub async fn concurrent_saves_keep_every_key(s: Subject) {
    let Some(key) = start_record(&s).await else {
        return;
    };
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = Arc::clone(&s.store);
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let mut changes = Changes::new();
            changes.set(format!("k{i}"), json!(i));
            let view = data(json!({"start": 0}));
            save_as(&*store, &key, (&changes, &view), None)
                .await
                .map(drop)
        }));
    }
    for task in tasks {
        ok(task.await.expect("task"), "concurrent save");
    }
    let stored = load(&s, &key).await.expect("record");
    for i in 0..50 {
        assert_eq!(stored.get(&format!("k{i}")), Some(&json!(i)), "k{i} lost");
    }
    assert_eq!(stored.get("start"), Some(&json!(0)));
}

/// A save carrying the snapshot of a load that another save has since overtaken still merges onto the
/// current record (stores that write "only if unchanged" must notice the change), and a save whose
/// snapshot is current applies too.
pub async fn save_with_a_stale_snapshot_merges(s: Subject) {
    let Some(key) = start_record(&s).await else {
        return;
    };
    let first = ok(s.store.load(&key).await, "load").expect("record");
    // Another request saves after this one loaded.
    let mut theirs = Changes::new();
    theirs.set("theirs".into(), json!(1));
    save(&s, &key, &first.data, &theirs).await;
    let mut mine = Changes::new();
    mine.set("mine".into(), json!(2));
    save_after(&s, &key, &first, &mine, "save with a stale snapshot").await;
    let stored = load(&s, &key).await.expect("record");
    assert_eq!(
        stored.get("theirs"),
        Some(&json!(1)),
        "the other save was lost"
    );
    assert_eq!(stored.get("mine"), Some(&json!(2)));

    // A current snapshot: the save applies as well.
    let current = ok(s.store.load(&key).await, "load").expect("record");
    let mut more = Changes::new();
    more.remove("start");
    save_after(&s, &key, &current, &more, "save with a current snapshot").await;
    let stored = load(&s, &key).await.expect("record");
    assert_eq!(stored.get("start"), None);
    assert_eq!(stored.get("mine"), Some(&json!(2)));
}

/// A record past its expiry is not loaded (cookie age, then a custom idle expiry).
pub async fn expired_records_are_gone(s: Subject) {
    let short = Duration::from_secs(1);
    let key = ok(
        s.store.create(&data(json!({"a": 1})), short).await,
        "create",
    );
    assert!(load(&s, &key).await.is_some());
    let mut custom = data(json!({"b": 1}));
    custom.insert(
        EXPIRY_KEY.into(),
        SessionExpiry::Idle(Duration::from_secs(1))
            .to_value()
            .unwrap_or(Value::Null),
    );
    let custom_key = ok(s.store.create(&custom, AGE).await, "create with expiry");
    assert!(load(&s, &custom_key).await.is_some());
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert_eq!(load(&s, &key).await, None, "cookie age passed");
    assert_eq!(load(&s, &custom_key).await, None, "custom expiry passed");
}

/// `clear_expired` removes expired records and keeps live ones.
pub async fn clear_expired_keeps_live_records(s: Subject) {
    if !s.server_side {
        assert!(matches!(
            s.store.clear_expired().await,
            Err(StoreError::Unsupported { .. })
        ));
        return;
    }
    let live = ok(
        s.store.create(&data(json!({"live": 1})), AGE).await,
        "create",
    );
    let dying = ok(
        s.store
            .create(&data(json!({"dying": 1})), Duration::from_secs(1))
            .await,
        "create",
    );
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    ok(s.store.clear_expired().await, "clear_expired");
    assert!(load(&s, &live).await.is_some());
    assert_eq!(load(&s, &dying).await, None);
    assert!(ok(s.store.exists(&live).await, "exists"));
}

/// `delete` removes the record; deleting an unknown key is fine.
pub async fn delete_removes(s: Subject) {
    let key = ok(s.store.create(&data(json!({"a": 1})), AGE).await, "create");
    ok(s.store.delete(&key).await, "delete");
    if s.server_side {
        assert_eq!(load(&s, &key).await, None);
        assert!(!ok(s.store.exists(&key).await, "exists"));
    }
    let unknown = SessionKey::generate().expect("OS RNG");
    ok(s.store.delete(&unknown).await, "delete unknown");
}

/// An empty session round-trips as empty.
pub async fn empty_data_round_trips(s: Subject) {
    let key = ok(s.store.create(&Data::new(), AGE).await, "create");
    assert_eq!(load(&s, &key).await, Some(Data::new()));
}

/// A session of `user` (its data holding [`USER_KEY`]), created with `extra` data.
async fn user_session(s: &Subject, user: &str, extra: Value) -> SessionKey {
    let mut data = data(extra);
    data.insert(USER_KEY.into(), Value::String(user.into()));
    ok(s.store.create(&data, AGE).await, "create a user's session")
}

/// The keys `user`'s sessions are listed under.
async fn listed(index: &dyn UserIndex, user: &str) -> HashSet<SessionKey> {
    ok(index.sessions_of(user).await, "sessions_of")
        .into_iter()
        .map(|session| session.key)
        .collect()
}

/// Sessions by user: each user's live sessions are listed, revoking needs the right user, a revoked
/// session is gone, and `revoke_all` keeps the one asked for and other users' sessions. A store that
/// keeps no index says so ([`StoreError::Unsupported`]).
pub async fn sessions_by_user(s: Subject) {
    let index = match crate::users::index_of(&*s.store) {
        Ok(index) => index,
        Err(StoreError::Unsupported { .. }) if !s.users => return,
        Err(error) => panic!("no user index: {error}"),
    };
    assert!(
        s.users,
        "the store has a user index the subject does not declare"
    );
    let user = "u1";
    let mine: Vec<SessionKey> = [
        user_session(&s, user, json!({"n": 1})).await,
        user_session(&s, user, json!({})).await,
        user_session(&s, user, json!({"n": 3})).await,
    ]
    .into();
    let theirs = user_session(&s, "u2", json!({})).await;
    let anonymous = ok(s.store.create(&data(json!({"n": 0})), AGE).await, "create");
    assert_eq!(listed(index, user).await, mine.iter().cloned().collect());
    assert_eq!(listed(index, "u2").await, HashSet::from([theirs.clone()]));
    assert!(listed(index, "nobody").await.is_empty());
    for session in ok(index.sessions_of(user).await, "sessions_of") {
        assert!(
            session.expires > std::time::SystemTime::now(),
            "listed an expired session"
        );
    }

    assert!(!ok(
        index.revoke("u2", &mine[0]).await,
        "revoke by another user"
    ));
    assert!(
        load(&s, &mine[0]).await.is_some(),
        "another user revoked a session"
    );
    assert!(ok(index.revoke(user, &mine[0]).await, "revoke"));
    assert_eq!(
        load(&s, &mine[0]).await,
        None,
        "a revoked session still loads"
    );
    assert_eq!(
        listed(index, user).await,
        mine[1..].iter().cloned().collect()
    );

    assert_eq!(
        ok(index.revoke_all(user, Some(&mine[2])).await, "revoke_all"),
        1
    );
    assert_eq!(load(&s, &mine[1]).await, None);
    assert_eq!(listed(index, user).await, HashSet::from([mine[2].clone()]));
    assert_eq!(ok(index.revoke_all(user, None).await, "revoke_all"), 1);
    assert!(listed(index, user).await.is_empty());
    assert!(
        load(&s, &theirs).await.is_some(),
        "revoke_all touched another user"
    );
    assert!(
        load(&s, &anonymous).await.is_some(),
        "revoke_all touched an anonymous session"
    );
    assert_eq!(listed(index, "u2").await, HashSet::from([theirs]));
}

/// A user's list drops a session when it is deleted, when a save clears its data (the user with it),
/// and when it expires.
pub async fn user_sessions_follow_the_sessions(s: Subject) {
    let Ok(index) = crate::users::index_of(&*s.store) else {
        return;
    };
    let user = "u3";
    let deleted = user_session(&s, user, json!({})).await;
    let cleared = user_session(&s, user, json!({})).await;
    let mut short = serde_json::Map::new();
    short.insert(
        EXPIRY_KEY.into(),
        SessionExpiry::Idle(Duration::from_secs(1))
            .to_value()
            .unwrap_or(Value::Null),
    );
    let expiring = user_session(&s, user, Value::Object(short)).await;
    let kept = user_session(&s, user, json!({})).await;
    assert_eq!(listed(index, user).await.len(), 4);

    ok(s.store.delete(&deleted).await, "delete");
    let mut clear = Changes::new();
    clear.clear();
    clear.set("after".into(), json!(true));
    save(&s, &cleared, &Data::new(), &clear).await;
    assert_eq!(
        listed(index, user).await,
        HashSet::from([expiring.clone(), kept.clone()])
    );

    // Expired: never listed once past its expiry (polled: no assumption about how fast this runs).
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    while listed(index, user).await.contains(&expiring) {
        assert!(
            std::time::Instant::now() < give_up,
            "an expired session is still listed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(listed(index, user).await, HashSet::from([kept]));
}

/// Runs every check of the suite as its own `#[tokio::test]`; see the [module docs](crate::testing).
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
        $crate::conformance_suite!(@tests $factory;
            create_then_load, unknown_keys_load_nothing, created_keys_are_fresh, save_applies_changes,
            save_after_clear_replaces, save_of_deleted_record_is_gone, concurrent_saves_keep_every_key,
            save_with_a_stale_snapshot_merges, expired_records_are_gone, clear_expired_keeps_live_records, delete_removes,
            empty_data_round_trips, sessions_by_user, user_sessions_follow_the_sessions);
    };
    (@tests $factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let setup = $crate::testing::Setup {
                    name: stringify!($check),
                    unique: $crate::testing::unique_name(stringify!($check)),
                };
                let factory = $factory;
                if let Some(subject) = factory(setup).await {
                    $crate::testing::$check(subject).await;
                }
            }
        )*
    };
}
