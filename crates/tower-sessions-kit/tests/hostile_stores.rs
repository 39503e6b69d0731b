//! Hostile input to the stores, property-based:
//!
//! - any string a client can put in a cookie, as a key, through every store's `load`, `exists` and
//!   `delete`: no panic, no error, nothing found, nothing created — and the file-backed stores never touch
//!   a path outside their directory;
//! - signed-cookie values: random ones never verify, and neither does a valid one with any single bit
//!   flipped (signed and encrypted);
//! - the SQLite session store: table names are a builder error or work; data with quotes, NULs and any
//!   Unicode round-trips.
//!
//! Each property runs `PROPTEST_CASES` cases (proptest's variable), else the count in its config.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cache_core::backends::{FileBackend, MemoryBackend};
use cache_core::Cache;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use tower_sessions_kit::record::Data;
use tower_sessions_kit::store::{
    CacheStore, CachedDatabaseStore, DatabaseStore, FileStore, SignedCookieStore,
};
use tower_sessions_kit::{Key, SessionKey, SessionStore};

const AGE: Duration = Duration::from_secs(3600);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// What a client can send as a session cookie value, shaped to hurt: any Unicode, path pieces, well-formed
/// but unknown keys, and long values.
fn hostile_value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("../".to_owned()),
        Just("..".to_owned()),
        Just("/".to_owned()),
        Just("\\".to_owned()),
        Just("%2e%2e%2f".to_owned()),
        Just("sessionid".to_owned()),
        Just(".".to_owned()),
        "[a-z0-9]{1,12}",
    ];
    prop_oneof![
        3 => any::<String>(),
        3 => proptest::collection::vec(piece, 1..12).prop_map(|pieces| pieces.concat()),
        2 => "[a-z0-9]{8,40}",
        1 => "[!#-+\\--:<-\\[\\]-~]{100,4200}",
    ]
}

/// Session data with the characters that break naive encoders: quotes, backslashes, NULs, any Unicode, in
/// keys and values alike.
fn hostile_data() -> impl Strategy<Value = Data> {
    let text = prop_oneof![
        any::<String>(),
        "['\"\\\\;`\\x00%_é😀 -]{0,24}",
        Just("'); DROP TABLE django_session; --".to_owned()),
    ];
    proptest::collection::vec((text.clone(), text), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .filter(|(key, _)| !key.starts_with('_'))
            .map(|(key, value)| (key, Value::String(value)))
            .collect()
    })
}

/// The keys a value can become: the default rule's, and any cookie-safe value (what the signed-cookie
/// store accepts).
fn keys_of(value: &str) -> Vec<SessionKey> {
    [
        SessionKey::parse(value),
        SessionKey::from_cookie_value(value),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The entries of `dir` (names), sorted.
fn entries(dir: &Path) -> Result<Vec<String>, TestCaseError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(fail)? {
        names.push(
            entry
                .map_err(fail)?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    Ok(names)
}

/// Every store, with the file-backed ones in `outer/cache` and `outer/sessions`.
async fn every_store(outer: &Path) -> Vec<Arc<dyn SessionStore>> {
    let database = DatabaseStore::connect("sqlite::memory:")
        .await
        .expect("sqlite");
    database.migrate().await.expect("migrate");
    let cached_database = DatabaseStore::connect("sqlite::memory:")
        .await
        .expect("sqlite");
    cached_database.migrate().await.expect("migrate");
    std::fs::create_dir(outer.join("sessions")).expect("sessions dir");
    let file_cache = FileBackend::new(outer.join("cache")).expect("file cache");
    vec![
        Arc::new(CacheStore::new(Cache::new(MemoryBackend::new()))),
        Arc::new(CacheStore::new(Cache::new(file_cache))),
        Arc::new(database),
        Arc::new(CachedDatabaseStore::new(
            cached_database,
            Cache::new(MemoryBackend::new()),
        )),
        Arc::new(FileStore::new(outer.join("sessions")).expect("file store")),
        Arc::new(SignedCookieStore::new(Key::generate())),
        Arc::new(SignedCookieStore::new(Key::generate()).encrypted(true)),
    ]
}

#[test]
fn client_chosen_keys_through_every_store_find_and_create_nothing() {
    let runtime = runtime();
    let outer = tempfile::tempdir().expect("tempdir");
    let stores = runtime.block_on(every_store(outer.path()));
    let expected_outer = vec!["cache".to_owned(), "sessions".to_owned()];
    proptest!(ProptestConfig { cases: 64, ..ProptestConfig::default() }, |(value in hostile_value())| {
        runtime.block_on(async {
            for key in keys_of(&value) {
                for store in &stores {
                    let name = store.name();
                    let loaded = store.load(&key).await;
                    prop_assert!(matches!(loaded, Ok(None)), "{name} load {value:?}: {loaded:?}");
                    let exists = store.exists(&key).await;
                    prop_assert!(matches!(exists, Ok(false)), "{name} exists {value:?}: {exists:?}");
                    let deleted = store.delete(&key).await;
                    prop_assert!(deleted.is_ok(), "{name} delete {value:?}: {deleted:?}");
                    let loaded = store.load(&key).await;
                    prop_assert!(matches!(loaded, Ok(None)), "{name} load after delete {value:?}");
                }
            }
            Ok(())
        })?;
        prop_assert_eq!(entries(outer.path())?, expected_outer.clone(), "a file outside the stores");
        prop_assert_eq!(entries(&outer.path().join("sessions"))?, Vec::<String>::new());
        let cache_files = entries(&outer.path().join("cache"))?;
        prop_assert!(
            cache_files.iter().all(|name| name == ".tdcache-lock"),
            "a lookup created cache entries: {cache_files:?}"
        );
    });
}

#[test]
fn file_store_sessions_stay_in_their_directory() {
    let runtime = runtime();
    let outer = tempfile::tempdir().expect("tempdir");
    let dir = outer.path().join("sessions");
    std::fs::create_dir(&dir).expect("sessions dir");
    let store = FileStore::new(&dir).expect("file store");
    proptest!(ProptestConfig { cases: 32, ..ProptestConfig::default() }, |(data in hostile_data(), value in hostile_value())| {
        runtime.block_on(async {
            let key = store.create(&data, AGE).await.map_err(fail)?;
            let loaded = store.load(&key).await.map_err(fail)?;
            prop_assert_eq!(loaded.map(|l| (*l.data).clone()), Some(data.clone()));
            // A client-chosen key next to a real one: still nothing.
            for hostile in keys_of(&value) {
                prop_assert!(matches!(store.load(&hostile).await, Ok(None)), "{value:?}");
                prop_assert!(store.delete(&hostile).await.is_ok(), "{value:?}");
            }
            store.delete(&key).await.map_err(fail)?;
            Ok(())
        })?;
        prop_assert_eq!(entries(outer.path())?, vec!["sessions".to_owned()]);
        prop_assert_eq!(entries(&dir)?, Vec::<String>::new(), "a session file left behind");
    });
}

/// A signed and an encrypted cookie store, each with its own new key.
fn signed_stores() -> [SignedCookieStore; 2] {
    [
        SignedCookieStore::new(Key::generate()),
        SignedCookieStore::new(Key::generate()).encrypted(true),
    ]
}

#[test]
fn random_signed_cookie_values_never_verify() {
    let runtime = runtime();
    let stores = signed_stores();
    let shaped = prop_oneof![
        hostile_value(),
        // The shape of a signed value: base64url payload, a dot, a 43-character signature.
        ("[A-Za-z0-9_-]{4,200}", "[A-Za-z0-9_-]{43}").prop_map(|(p, s)| format!("{p}.{s}")),
        // The shape of an encrypted one: standard base64.
        "[A-Za-z0-9+/]{40,200}={0,2}",
    ];
    proptest!(ProptestConfig { cases: 256, ..ProptestConfig::default() }, |(value in shaped)| {
        runtime.block_on(async {
            for key in keys_of(&value) {
                for store in &stores {
                    prop_assert!(matches!(store.load(&key).await, Ok(None)), "{value:?}");
                    prop_assert!(matches!(store.exists(&key).await, Ok(false)), "{value:?}");
                }
            }
            Ok(())
        })?;
    });
}

#[test]
fn any_single_bit_flipped_in_a_signed_cookie_is_rejected() {
    let runtime = runtime();
    let stores = signed_stores();
    proptest!(ProptestConfig { cases: 256, ..ProptestConfig::default() }, |(
        data in hostile_data(),
        at in any::<proptest::sample::Index>(),
        bit in 0..8_u8,
    )| {
        runtime.block_on(async {
            for store in &stores {
                let key = store.create(&data, AGE).await.map_err(fail)?;
                let loaded = store.load(&key).await.map_err(fail)?;
                prop_assert_eq!(loaded.map(|l| (*l.data).clone()), Some(data.clone()));
                let mut bytes = key.as_str().as_bytes().to_vec();
                let index = at.index(bytes.len());
                bytes[index] ^= 1 << bit;
                // A flip that leaves UTF-8 or cookie-safe characters cannot even be a key.
                let Some(flipped) = std::str::from_utf8(&bytes).ok().and_then(SessionKey::from_cookie_value) else {
                    continue;
                };
                let loaded = store.load(&flipped).await;
                prop_assert!(
                    matches!(loaded, Ok(None)),
                    "bit {bit} of byte {index} flipped and still verified: {loaded:?}"
                );
                prop_assert!(matches!(store.exists(&flipped).await, Ok(false)));
            }
            Ok(())
        })?;
    });
}

#[test]
fn sqlite_session_tables_and_data_round_trip() {
    let runtime = runtime();
    let table = prop_oneof![
        2 => any::<String>(),
        2 => "[a-zA-Z_][a-zA-Z0-9_]{0,60}",
        2 => "[a-zA-Z_ \"'`;\\-\\x00é]{0,24}",
        1 => Just("django_session\"; DROP TABLE x; --".to_owned()),
    ]
    // `sqlite_`-prefixed names: `sqlite_reserved_table_names_are_a_builder_error` below.
    .prop_filter("reserved by SQLite", |name| {
        !name
            .get(..7)
            .is_some_and(|start| start.eq_ignore_ascii_case("sqlite_"))
    });
    proptest!(ProptestConfig { cases: 64, ..ProptestConfig::default() }, |(table in table, data in hostile_data())| {
        runtime.block_on(async {
            let built = DatabaseStore::builder("sqlite::memory:").table(table.clone()).connect().await;
            let store = match built {
                Ok(store) => store,
                Err(error) => {
                    let message = error.to_string();
                    prop_assert!(message.contains("table name"), "{table:?}: {message}");
                    return Ok(());
                }
            };
            let migrated = store.migrate().await;
            prop_assert!(migrated.is_ok(), "{table:?} accepted, then unusable: {migrated:?}");
            let key = store.create(&data, AGE).await.map_err(fail)?;
            let loaded = store.load(&key).await.map_err(fail)?;
            prop_assert_eq!(loaded.map(|l| (*l.data).clone()), Some(data.clone()));
            store.close().await;
            Ok(())
        })?;
    });
}

/// SQLite refuses tables named `sqlite_…` (any case): the builder should say so, as it does for every
/// other name it cannot use, instead of `migrate` failing with "object name reserved for internal use".
#[tokio::test]
async fn sqlite_reserved_table_names_are_a_builder_error() {
    for table in ["sqlite_sessions", "SQLITE_x", "Sqlite_"] {
        let built = DatabaseStore::builder("sqlite::memory:")
            .table(table)
            .connect()
            .await;
        assert!(built.is_err(), "{table:?} accepted");
    }
}
