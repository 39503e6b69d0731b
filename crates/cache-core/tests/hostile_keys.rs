//! Hostile input, property-based: arbitrary keys, prefixes and versions through a `Cache` on the memory
//! and file backends, and arbitrary table names, keys and values through the SQLite database backend.
//!
//! - no panic; a key the backend cannot take is `Error::InvalidKey`, never anything worse;
//! - what is stored reads back byte for byte;
//! - the file backend never creates a file outside its directory, nor leaves a temporary file behind;
//! - a table name SQLite cannot use is a clear `Error::Config` from the builder, and any name the builder
//!   accepts works.
//!
//! Each property runs `PROPTEST_CASES` cases (proptest's variable), else the count in its config.

use std::path::Path;

use bytes::Bytes;
use cache_core::backends::{DatabaseBackend, FileBackend, MemoryBackend};
use cache_core::{Cache, CacheBackend, Error};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Keys shaped to hurt: any Unicode (NUL, controls, newlines included), path pieces (`..`, `/`, `\`,
/// encoded slashes), and very long keys.
fn hostile_key() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("../".to_owned()),
        Just("..".to_owned()),
        Just("/".to_owned()),
        Just("\\".to_owned()),
        Just("\0".to_owned()),
        Just("%2e%2e%2f".to_owned()),
        Just(".tdcache".to_owned()),
        Just("é😀".to_owned()),
        Just(" ".to_owned()),
        "[a-z0-9:]{1,8}",
    ];
    prop_oneof![
        4 => any::<String>(),
        3 => proptest::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat()),
        1 => "\\PC{200,1200}",
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every operation on `key`: each either works or refuses the key; stored bytes read back.
async fn exercise(cache: &Cache, key: &str, value: &[u8]) -> Result<(), TestCaseError> {
    let refused = |result: &Error| matches!(result, Error::InvalidKey { .. });
    match cache.set_bytes(key, Bytes::copy_from_slice(value)).await {
        Ok(()) => {
            let read = cache.get_bytes(key).await;
            prop_assert!(
                matches!(&read, Ok(Some(bytes)) if bytes.as_ref() == value),
                "{key:?}: read back {read:?}"
            );
            prop_assert!(matches!(cache.has_key(key).await, Ok(true)), "{key:?}");
            prop_assert!(
                matches!(cache.add_bytes(key, "other").await, Ok(false)),
                "{key:?}"
            );
            prop_assert!(cache.touch(key).await.is_ok(), "{key:?}");
            let many = cache
                .get_many::<serde_json::Value, _, _>([key, "missing"])
                .await;
            prop_assert!(
                many.is_ok() || matches!(&many, Err(Error::Decode { .. })),
                "{many:?}"
            );
            prop_assert!(matches!(cache.delete(key).await, Ok(true)), "{key:?}");
            prop_assert!(matches!(cache.get_bytes(key).await, Ok(None)), "{key:?}");
            let incr = cache.incr(key, 1).await;
            prop_assert!(
                matches!(incr, Err(Error::KeyNotFound { .. })),
                "{key:?}: {incr:?}"
            );
            prop_assert!(cache.set(key, &41_i64).await.is_ok(), "{key:?}");
            let incr = cache.incr(key, 1).await;
            prop_assert!(matches!(incr, Ok(42)), "{key:?}: {incr:?}");
            prop_assert!(cache.delete_many([key]).await.is_ok(), "{key:?}");
            prop_assert!(matches!(cache.has_key(key).await, Ok(false)), "{key:?}");
        }
        Err(error) => {
            prop_assert!(refused(&error), "{key:?}: {error}");
            for result in [
                cache.get_bytes(key).await.map(drop),
                cache.has_key(key).await.map(drop),
                cache.delete(key).await.map(drop),
                cache.add_bytes(key, "v").await.map(drop),
            ] {
                prop_assert!(
                    result.is_ok() || result.as_ref().is_err_and(refused),
                    "{key:?}: {result:?}"
                );
            }
        }
    }
    Ok(())
}

/// Every file under `outer` is the cache directory `outer/cache` or directly in it, and none is a
/// leftover temporary file.
fn files_stay_in_the_cache_dir(outer: &Path) -> Result<(), TestCaseError> {
    let cache_dir = outer.join("cache");
    for entry in std::fs::read_dir(outer).map_err(|e| TestCaseError::fail(e.to_string()))? {
        let path = entry
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .path();
        prop_assert_eq!(&path, &cache_dir, "a file outside the cache directory");
    }
    for entry in std::fs::read_dir(&cache_dir).map_err(|e| TestCaseError::fail(e.to_string()))? {
        let entry = entry.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        prop_assert!(entry.path().is_file(), "{name} is not a plain file");
        let entry_file = name.len() == 32 + ".tdcache".len()
            && name.ends_with(".tdcache")
            && name[..32].bytes().all(|b| b.is_ascii_hexdigit());
        prop_assert!(
            entry_file || name == ".tdcache-lock",
            "unexpected file {name:?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_keys_on_the_memory_and_file_backends(
        key in hostile_key(),
        prefix in prop_oneof![Just(String::new()), any::<String>(), Just("../..".to_owned())],
        version in any::<i64>(),
        value in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let outer = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let file = FileBackend::new(outer.path().join("cache"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let backends: [Box<dyn CacheBackend>; 2] = [Box::new(MemoryBackend::new()), Box::new(file)];
        runtime().block_on(async {
            for backend in backends {
                let cache = Cache::builder_from_arc(backend.into())
                    .key_prefix(prefix.clone())
                    .version(version)
                    .build();
                exercise(&cache, &key, &value).await?;
            }
            Ok::<_, TestCaseError>(())
        })?;
        files_stay_in_the_cache_dir(outer.path())?;
    }

    #[test]
    fn sqlite_table_names_are_a_builder_error_or_work(
        table in prop_oneof![
            3 => any::<String>(),
            3 => "[a-zA-Z_ \"'`;\\\\.\\-\\x00é😀]{0,24}",
            1 => "(?i:sqlite_)[a-z_]{0,8}",
            1 => Just("cache_table; DROP TABLE x; --".to_owned()),
        ],
        key in hostile_key(),
        value in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        runtime().block_on(async {
            let built = DatabaseBackend::builder("sqlite::memory:").table(table.clone()).connect().await;
            let backend = match built {
                Ok(backend) => backend,
                Err(Error::Config(message)) => {
                    prop_assert!(message.contains("table"), "{table:?}: {message}");
                    return Ok(());
                }
                Err(other) => return Err(TestCaseError::fail(format!("{table:?}: {other}"))),
            };
            let created = backend.create_table().await;
            prop_assert!(created.is_ok(), "{table:?} accepted, then unusable: {created:?}");
            prop_assert_eq!(backend.table(), table.as_str());
            let cache = Cache::new(backend.clone());
            exercise(&cache, &key, &value).await?;
            // Keys and values with quotes and NULs are bound, never spliced into SQL.
            for key in ["'", "\"; DROP TABLE x; --", "\0", "`"] {
                prop_assert!(cache.set_bytes(key, Bytes::copy_from_slice(&value)).await.is_ok(), "{key:?}");
                let read = cache.get_bytes(key).await;
                prop_assert!(matches!(&read, Ok(Some(b)) if b.as_ref() == value.as_slice()), "{key:?}: {read:?}");
            }
            prop_assert!(backend.drop_table().await.is_ok());
            Ok(())
        })?;
    }
}
