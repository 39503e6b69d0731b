//! The cost of the cache layer over redis-rs, side by side in one run on one pool:
//!
//! - `get` of a 10 KB value through `Cache::get_bytes` on a `RedisBackend`, against a bare redis-rs
//!   `GET` on a connection of the same pool (checked out per call, as the backend does, and held across
//!   calls, the floor);
//! - `get_many` of 100 keys through `Cache::get_many` (one `MGET`) against a bare `MGET`.
//!
//! After criterion's report, an interleaved measurement prints the ratios (the target: within 1.2×).
//!
//! `TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench -p cache-core --features redis --bench redis`
//! (add `-- --measurement-time 3` for a short run). Without `TEST_REDIS_URL` it says so and measures
//! nothing.

use std::time::{Duration, Instant};

use bytes::Bytes;
use cache_core::backends::RedisBackend;
use cache_core::{Cache, CacheBackend, Timeout};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const VALUE_SIZE: usize = 10 * 1024;
const MANY: usize = 100;

struct Setup {
    runtime: tokio::runtime::Runtime,
    backend: RedisBackend,
    cache: Cache,
    /// The Redis key of the 10 KB entry.
    stored_key: String,
    /// The Redis keys of the 100 entries.
    stored_many: Vec<String>,
    many: Vec<String>,
}

fn setup() -> Option<Setup> {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("skipping the Redis benchmark: set TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)");
        return None;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let backend = RedisBackend::builder(url)
        .namespace(format!("bench-{}:", std::process::id()))
        .build()
        .expect("valid TEST_REDIS_URL");
    let cache = Cache::builder(backend.clone()).key_prefix("bench").build();
    let many: Vec<String> = (0..MANY).map(|i| format!("many{i}")).collect();
    runtime.block_on(async {
        let value = Bytes::from(vec![b'x'; VALUE_SIZE]);
        cache
            .set_bytes("page", value)
            .timeout(Timeout::Never)
            .await
            .expect("set");
        cache
            .set_many(many.iter().map(|k| (k.clone(), 1)))
            .timeout(Timeout::Never)
            .await
            .expect("set_many");
    });
    let stored_key = backend.namespaced_key(&cache.make_key("page", None));
    let stored_many = many
        .iter()
        .map(|k| backend.namespaced_key(&cache.make_key(k, None)))
        .collect();
    Some(Setup {
        runtime,
        backend,
        cache,
        stored_key,
        stored_many,
        many,
    })
}

async fn ours_get(s: &Setup) {
    let value = s.cache.get_bytes("page").await.expect("get");
    assert_eq!(value.map(|v| v.len()), Some(VALUE_SIZE));
}

async fn bare_get_checkout(s: &Setup) {
    let mut connection = s.backend.connection().await.expect("connection");
    let value: Option<Vec<u8>> = redis::cmd("GET")
        .arg(&s.stored_key)
        .query_async(&mut connection)
        .await
        .expect("GET");
    assert_eq!(value.map(|v| v.len()), Some(VALUE_SIZE));
}

async fn bare_get_held(s: &Setup, connection: &mut cache_core::backends::RedisConnection) {
    let value: Option<Vec<u8>> = redis::cmd("GET")
        .arg(&s.stored_key)
        .query_async(connection)
        .await
        .expect("GET");
    assert_eq!(value.map(|v| v.len()), Some(VALUE_SIZE));
}

async fn ours_get_many(s: &Setup) {
    let found = s
        .cache
        .get_many::<i32, _, _>(s.many.iter().cloned())
        .await
        .expect("get_many");
    assert_eq!(found.len(), MANY);
}

async fn bare_mget(s: &Setup) {
    let mut connection = s.backend.connection().await.expect("connection");
    let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
        .arg(&s.stored_many)
        .query_async(&mut connection)
        .await
        .expect("MGET");
    assert_eq!(values.len(), MANY);
}

fn bench(c: &mut Criterion) {
    let Some(s) = setup() else {
        return;
    };
    let held = tokio::sync::Mutex::new(
        s.runtime
            .block_on(s.backend.connection())
            .expect("connection"),
    );

    let mut group = c.benchmark_group("redis_get_10kb");
    group.throughput(Throughput::Bytes(VALUE_SIZE as u64));
    group.bench_function(BenchmarkId::new("cache_get_bytes", "RedisBackend"), |b| {
        b.to_async(&s.runtime).iter(|| ours_get(&s));
    });
    group.bench_function(
        BenchmarkId::new("bare_redis_rs_GET", "pool checkout per call"),
        |b| {
            b.to_async(&s.runtime).iter(|| bare_get_checkout(&s));
        },
    );
    group.bench_function(
        BenchmarkId::new("bare_redis_rs_GET", "held connection"),
        |b| {
            b.to_async(&s.runtime)
                .iter(|| async { bare_get_held(&s, &mut *held.lock().await).await });
        },
    );
    group.finish();

    let mut group = c.benchmark_group("redis_get_many_100");
    group.bench_function(BenchmarkId::new("cache_get_many", "RedisBackend"), |b| {
        b.to_async(&s.runtime).iter(|| ours_get_many(&s));
    });
    group.bench_function(
        BenchmarkId::new("bare_redis_rs_MGET", "pool checkout per call"),
        |b| {
            b.to_async(&s.runtime).iter(|| bare_mget(&s));
        },
    );
    group.finish();

    ratios(&s, &mut held.into_inner());
    s.runtime.block_on(async {
        s.backend.clear().await.expect("clear");
    });
}

/// Interleaved rounds of each variant, so drift in the machine's load hits all of them alike; the median
/// round time per call, and the ratios.
fn ratios(s: &Setup, held: &mut cache_core::backends::RedisConnection) {
    const ROUNDS: usize = 30;
    const CALLS: u32 = 200;
    let mut times: [Vec<Duration>; 5] = Default::default();
    s.runtime.block_on(async {
        for _ in 0..ROUNDS {
            let started = Instant::now();
            for _ in 0..CALLS {
                ours_get(s).await;
            }
            times[0].push(started.elapsed() / CALLS);
            let started = Instant::now();
            for _ in 0..CALLS {
                bare_get_checkout(s).await;
            }
            times[1].push(started.elapsed() / CALLS);
            let started = Instant::now();
            for _ in 0..CALLS {
                bare_get_held(s, held).await;
            }
            times[2].push(started.elapsed() / CALLS);
            let started = Instant::now();
            for _ in 0..CALLS / 4 {
                ours_get_many(s).await;
            }
            times[3].push(started.elapsed() / (CALLS / 4));
            let started = Instant::now();
            for _ in 0..CALLS / 4 {
                bare_mget(s).await;
            }
            times[4].push(started.elapsed() / (CALLS / 4));
        }
    });
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let [ours, checkout, held_time, many, mget] = times.each_mut().map(median);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!();
    println!("interleaved medians ({ROUNDS} rounds of {CALLS} calls):");
    println!("  get 10 KB   Cache::get_bytes      {ours:>10.1?}");
    println!(
        "  get 10 KB   bare GET, checkout    {checkout:>10.1?}   ratio {:.3}",
        ratio(ours, checkout)
    );
    println!(
        "  get 10 KB   bare GET, held conn   {held_time:>10.1?}   ratio {:.3}",
        ratio(ours, held_time)
    );
    println!("  get_many    Cache::get_many(100)  {many:>10.1?}");
    println!(
        "  get_many    bare MGET (100)       {mget:>10.1?}   ratio {:.3}",
        ratio(many, mget)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
