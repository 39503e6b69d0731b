//! cache-core on the memory backend versus raw moka doing the same work, side by side in one run.
//!
//! Each group measures one operation on a 10 KB value both ways; the summary at the end prints our cost as a
//! ratio of raw moka's (from criterion's own estimates). Run: `cargo bench --bench cache_ops`.

use std::future::IntoFuture;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use cache_core::backends::MemoryBackend;
use cache_core::Cache;
use criterion::{criterion_group, Criterion};

const VALUE_SIZE: usize = 10 * 1024;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The raw-moka baseline: the same store shape our backend would need without the cache API on top.
fn raw_moka() -> moka::sync::Cache<String, Bytes> {
    moka::sync::Cache::builder().max_capacity(10_000).build()
}

/// Raw moka configured as the memory backend was when it was built on moka (LRU, a weigher, per-entry expiry
/// of the default 300 s): the store the current hash table and recency list replaced.
fn configured_moka() -> moka::sync::Cache<String, Bytes> {
    struct DefaultTimeout;
    impl moka::Expiry<String, Bytes> for DefaultTimeout {
        fn expire_after_create(
            &self,
            _key: &String,
            _value: &Bytes,
            _now: std::time::Instant,
        ) -> Option<Duration> {
            Some(Duration::from_secs(300))
        }
    }
    moka::sync::Cache::builder()
        .max_capacity(10_000)
        .weigher(|key: &String, value: &Bytes| {
            u32::try_from(key.len() + value.len()).unwrap_or(u32::MAX) / 1024 + 1
        })
        .eviction_policy(moka::policy::EvictionPolicy::lru())
        .expire_after(DefaultTimeout)
        .build()
}

fn ours() -> Cache {
    let backend = MemoryBackend::builder()
        .max_entries(10_000)
        .build()
        .expect("valid bounds");
    Cache::new(backend)
}

fn get(c: &mut Criterion) {
    let rt = runtime();
    let value = Bytes::from(vec![b'x'; VALUE_SIZE]);
    let moka = raw_moka();
    moka.insert(":1:page".to_owned(), value.clone());
    let configured = configured_moka();
    configured.insert(":1:page".to_owned(), value.clone());
    let cache = ours();
    rt.block_on(cache.set_bytes("page", value.clone()).into_future())
        .expect("set");

    let mut group = c.benchmark_group("get_10kb");
    group.bench_function("raw_moka", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(moka.get(black_box(":1:page"))) })
    });
    group.bench_function("configured_moka", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(configured.get(black_box(":1:page"))) })
    });
    group.bench_function("cache_core", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(cache.get_bytes(black_box("page")).await) })
    });
    group.finish();
}

fn set(c: &mut Criterion) {
    let rt = runtime();
    let value = Bytes::from(vec![b'x'; VALUE_SIZE]);
    let moka = raw_moka();
    let cache = ours();

    let mut group = c.benchmark_group("set_10kb");
    group.bench_function("raw_moka", |b| {
        b.to_async(&rt).iter(|| async {
            moka.insert(":1:page".to_owned(), black_box(value.clone()));
        })
    });
    group.bench_function("cache_core", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(cache.set_bytes("page", black_box(value.clone())).await) })
    });
    group.finish();
}

fn get_many(c: &mut Criterion) {
    let rt = runtime();
    let value = Bytes::from(vec![b'x'; VALUE_SIZE]);
    let keys: Vec<String> = (0..10).map(|i| format!("page{i}")).collect();
    let made: Vec<String> = keys.iter().map(|k| format!(":1:{k}")).collect();
    let moka = raw_moka();
    let cache = ours();
    for (key, made) in keys.iter().zip(&made) {
        moka.insert(made.clone(), value.clone());
        rt.block_on(cache.set_bytes(key, value.clone()).into_future())
            .expect("set");
    }
    let backend_keys = made.clone();

    let mut group = c.benchmark_group("get_many_10x10kb");
    group.bench_function("raw_moka", |b| {
        b.to_async(&rt).iter(|| async {
            let found: Vec<Option<Bytes>> = made.iter().map(|k| moka.get(k)).collect();
            black_box(found)
        })
    });
    group.bench_function("cache_core", |b| {
        b.to_async(&rt).iter(|| async {
            // Raw bytes through the backend: the typed get_many would add JSON decoding of 100 KB.
            black_box(cache.raw().get_many(black_box(&backend_keys)).await)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = get, set, get_many
}

/// Prints `cache_core / raw_moka` for each group from criterion's saved estimates.
fn print_ratios() {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let mean = |group: &str, bench: &str| -> Option<f64> {
        let path = format!("{dir}/criterion/{group}/{bench}/new/estimates.json");
        let text = std::fs::read_to_string(path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json["mean"]["point_estimate"].as_f64()
    };
    println!("\nsummary (mean time per operation, same run; ratio = cache-core / baseline):");
    for (group, baseline) in [
        ("get_10kb", "raw_moka"),
        ("get_10kb", "configured_moka"),
        ("set_10kb", "raw_moka"),
        ("get_many_10x10kb", "raw_moka"),
    ] {
        match (mean(group, baseline), mean(group, "cache_core")) {
            (Some(raw), Some(ours)) => println!(
                "  {group:<18} {baseline:<16} {raw:>9.1} ns   cache-core {ours:>9.1} ns   ratio {:.2}x",
                ours / raw
            ),
            _ => println!("  {group:<18} {baseline:<16} (no estimates found)"),
        }
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    print_ratios();
}
