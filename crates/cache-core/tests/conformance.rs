//! The conformance suite on every embedded backend. Server backends run it in their own test files.

use cache_core::testing::{Setup, Subject};
use cache_core::Cache;

#[cfg(feature = "memory")]
mod memory {
    use super::*;
    use cache_core::backends::MemoryBackend;

    cache_core::conformance_suite!(|setup: Setup| async move {
        let backend = MemoryBackend::builder()
            .max_entries(setup.max_entries)
            .build()
            .expect("valid bounds");
        Some(Subject::new(Cache::builder(backend).key_prefix(setup.prefix).build()).culls())
    });
}

#[cfg(feature = "file")]
mod file {
    use super::*;
    use cache_core::backends::FileBackend;

    cache_core::conformance_suite!(|setup: Setup| async move {
        // The directory lives as long as the test process; each test gets its own.
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let backend = FileBackend::builder(dir.join(setup.name))
            .max_entries(setup.max_entries)
            .build()
            .expect("file backend");
        Some(Subject::new(Cache::builder(backend).key_prefix(setup.prefix).build()).culls())
    });
}

/// The file backend in Django's layout, under the Django value format: every behaviour holds the same.
#[cfg(feature = "file")]
mod file_django {
    use super::*;
    use cache_core::backends::FileBackend;
    use cache_core::ValueFormat;

    cache_core::conformance_suite!(|setup: Setup| async move {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let backend = FileBackend::builder(dir.join(setup.name))
            .max_entries(setup.max_entries)
            .django_layout()
            .build()
            .expect("file backend");
        let cache = Cache::builder(backend)
            .key_prefix(setup.prefix)
            .value_format(ValueFormat::DjangoPickle)
            .build();
        Some(Subject::new(cache).culls())
    });
}

mod dummy {
    use cache_core::backends::DummyBackend;
    use cache_core::{Cache, Error};

    #[tokio::test]
    async fn stores_nothing_and_answers_like_django() {
        let cache = Cache::new(DummyBackend::new());
        cache.set("k", "v").await.expect("set");
        assert_eq!(cache.get::<String>("k").await.expect("get"), None);
        assert!(cache.add("k", "v").await.expect("add"));
        assert!(!cache.touch("k").await.expect("touch"));
        assert!(!cache.delete("k").await.expect("delete"));
        assert!(!cache.has_key("k").await.expect("has_key"));
        assert!(cache
            .get_many::<String, _, _>(["k"])
            .await
            .expect("get_many")
            .is_empty());
        assert!(cache
            .set_many([("a", 1)])
            .await
            .expect("set_many")
            .is_empty());
        assert!(matches!(
            cache.incr("k", 1).await,
            Err(Error::KeyNotFound { .. })
        ));
        assert!(matches!(
            cache.decr("k", 1).await,
            Err(Error::KeyNotFound { .. })
        ));
        assert!(matches!(
            cache.incr_version("k", 1).await,
            Err(Error::KeyNotFound { .. })
        ));
        assert_eq!(cache.get_or_set("k", 3).await.expect("get_or_set"), 3);
        cache.clear().await.expect("clear");
    }

    #[tokio::test]
    async fn still_validates_keys() {
        let cache = Cache::new(DummyBackend::new());
        // Only a warning on the dummy backend, as in Django: the call succeeds.
        cache
            .set(&"k".repeat(300), "v")
            .await
            .expect("set long key");
    }
}
