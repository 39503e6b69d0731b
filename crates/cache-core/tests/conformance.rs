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
