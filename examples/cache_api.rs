//! The cache API (Django's `django.core.cache.cache`) on the in-process memory backend: a tour of the calls,
//! each printed with its result, then exit. Nothing needs to run.
//!
//! ```text
//! cargo run --example cache_api
//! ```
//!
//! Every call is a builder that runs when awaited: `.timeout(..)` and `.version(..)` are Django's keyword
//! arguments. Any other backend gives the same results: replace `MemoryBackend::new()` with
//! `FileBackend::new("/tmp/cache")?`, or build the cache with `Cache::from_url("redis://127.0.0.1")`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tower_django::cache::backends::MemoryBackend;
use tower_django::cache::{Cache, Timeout};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Django's KEY_PREFIX, VERSION and TIMEOUT settings. Keys reach the backend as `example:1:greeting`.
    let cache = Cache::builder(MemoryBackend::new())
        .key_prefix("example")
        .default_timeout(Duration::from_secs(300))
        .build();

    println!("-- set / get: any serde value, stored as JSON");
    cache.set("greeting", "hello").await?;
    cache.set("user:42", &("alice", 31)).await?;
    let greeting: Option<String> = cache.get("greeting").await?;
    let user: Option<(String, u32)> = cache.get("user:42").await?;
    let missing: Option<String> = cache.get("nothing-here").await?;
    println!(
        "get(greeting) = {greeting:?}, get(user:42) = {user:?}, get(nothing-here) = {missing:?}"
    );
    println!(
        "backend key of greeting: {}",
        cache.make_key("greeting", None)
    );

    println!(
        "\n-- timeouts: per call; Timeout::Never keeps an entry; Duration::ZERO does not store"
    );
    cache
        .set("short-lived", &1)
        .timeout(Duration::from_millis(100))
        .await?;
    cache.set("forever", "x").timeout(Timeout::Never).await?;
    cache.set("not-stored", "x").timeout(Duration::ZERO).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!(
        "after 200 ms: short-lived {}, forever {}, not-stored {}",
        cache.has_key("short-lived").await?,
        cache.has_key("forever").await?,
        cache.has_key("not-stored").await?,
    );
    let touched = cache
        .touch("greeting")
        .timeout(Duration::from_secs(3600))
        .await?;
    println!("touch(greeting, 1 h) = {touched} (a new expiry, same value)");

    println!("\n-- add: stores only when the key is missing");
    let replaced = cache.add("greeting", "bonjour").await?;
    let created = cache.add("visits", &0).await?;
    println!("add(greeting) = {replaced}, add(visits) = {created}");

    println!("\n-- incr / decr: atomic counters on every backend");
    println!("incr(visits, 1) = {}", cache.incr("visits", 1).await?);
    println!("incr(visits, 5) = {}", cache.incr("visits", 5).await?);
    println!("decr(visits, 2) = {}", cache.decr("visits", 2).await?);
    match cache.incr("no-such-counter", 1).await {
        Err(error) => println!("incr(no-such-counter) fails, as in Django: {error}"),
        Ok(value) => println!("incr(no-such-counter) = {value}?"),
    }

    println!("\n-- versions: one key, several versions side by side");
    cache.set("schema", "v1 layout").await?; // the cache's version, 1
    cache.set("schema", "v2 layout").version(2).await?;
    let v1: Option<String> = cache.get("schema").await?;
    let v2: Option<String> = cache.get("schema").version(2).await?;
    println!("version 1: {v1:?}, version 2: {v2:?}");
    // incr_version moves the entry of version 1 to version 2 (replacing what was there).
    let moved_to = cache.incr_version("schema", 1).await?;
    let v1: Option<String> = cache.get("schema").await?;
    let v2: Option<String> = cache.get("schema").version(2).await?;
    println!("incr_version(schema) = {moved_to}; now version 1: {v1:?}, version 2: {v2:?}");

    println!("\n-- get_or_set_with: read-through; concurrent callers of one key compute once");
    let computed = Arc::new(AtomicUsize::new(0));
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (cache, computed) = (cache.clone(), computed.clone());
        callers.spawn(async move {
            cache
                .get_or_set_with("report", || async {
                    computed.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await; // an expensive query
                    "the monthly report".to_owned()
                })
                .timeout(Duration::from_secs(60))
                .await
        });
    }
    while let Some(result) = callers.join_next().await {
        let report: String = result??;
        debug_assert_eq!(report, "the monthly report");
    }
    println!(
        "10 callers got the report; it was computed {} time(s)",
        computed.load(Ordering::SeqCst)
    );
    let fallback: u32 = cache.get_or_set("answer", 42).await?;
    println!("get_or_set(answer, 42) = {fallback}");

    println!("\n-- many keys at once");
    let failed = cache
        .set_many([("a", 1), ("b", 2), ("c", 3)])
        .timeout(Duration::from_secs(60))
        .await?;
    let found = cache.get_many::<i32, _, _>(["a", "b", "zzz"]).await?;
    let mut found: Vec<_> = found.into_iter().collect();
    found.sort();
    println!("set_many failed keys: {failed:?}; get_many(a, b, zzz) = {found:?}");
    cache.delete_many(["a", "b"]).await?;
    println!(
        "after delete_many(a, b): has_key(a) = {}",
        cache.has_key("a").await?
    );

    println!("\n-- delete and clear");
    println!("delete(greeting) = {}", cache.delete("greeting").await?);
    println!(
        "delete(greeting) again = {}",
        cache.delete("greeting").await?
    );
    cache.clear().await?;
    println!(
        "after clear: has_key(visits) = {}",
        cache.has_key("visits").await?
    );
    Ok(())
}
