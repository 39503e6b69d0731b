//! Several named caches from one JSON file (Django's `CACHES` setting): `examples/caches.json` configures
//! five aliases on four backends (memory twice, file, SQLite, dummy). This builds them, uses each, shows
//! they are separate, and exits. Nothing needs to run.
//!
//! ```text
//! cargo run --example multi_backend --features file
//! CACHES_CONFIG=my-caches.json cargo run --example multi_backend --features file
//! ```
//!
//! Relative paths in the file (the `pages` cache's directory) are taken from the current directory: run it
//! from the repository root and the file cache lands in `target/example-caches/pages`. Each alias is built
//! at startup, so a mistake in the file fails here and names the alias, not on the first request.

use std::time::Duration;

use tower_django::cache::{Caches, CachesConfig};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let path = std::env::var("CACHES_CONFIG")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/examples/caches.json").into());
    let text =
        std::fs::read_to_string(&path).map_err(|error| format!("cannot read {path}: {error}"))?;
    let config: CachesConfig = serde_json::from_str(&text)
        .map_err(|error| format!("{path} is not a valid CACHES: {error}"))?;
    let caches = Caches::from_config(config).await?;

    println!("caches from {path}:");
    for alias in caches.aliases() {
        let cache = caches.get(alias)?;
        println!(
            "  {alias:<9} {:<7} key prefix {:?}, version {}, default timeout {:?}",
            cache.backend_name(),
            cache.key_prefix(),
            cache.default_version(),
            cache.default_timeout(),
        );
    }

    // Django's `caches["default"]`, or `cache`.
    let default = caches.default_cache()?;
    default.set("greeting", "hello from default").await?;

    // Two memory caches with different names (`LOCATION`s) are separate stores: the same key misses.
    let sessions = caches.get("sessions")?;
    let elsewhere: Option<String> = sessions.get("greeting").await?;
    println!("\nsessions cache, key set in default: {elsewhere:?} (separate stores)");

    // The file cache: whole rendered pages as bytes, kept across restarts.
    let pages = caches.get("pages")?;
    pages
        .set_bytes("/about", "<h1>About</h1>")
        .timeout(Duration::from_secs(60))
        .await?;
    let page = pages.get_bytes("/about").await?;
    println!(
        "pages cache (files): /about = {:?}",
        page.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    );

    // The SQL cache with `"timeout": null` (never expire) and `"version": 2`, visible in its keys.
    let reports = caches.get("reports")?;
    let total: u64 = reports
        .get_or_set_with("monthly-total", || async {
            tokio::time::sleep(Duration::from_millis(100)).await; // an expensive aggregate
            4_096
        })
        .await?;
    println!(
        "reports cache (SQLite): monthly-total = {total}, stored under {:?}",
        reports.make_key("monthly-total", None)
    );

    // The dummy cache (Django's `DummyCache`): accepts everything, keeps nothing. For turning caching off
    // in development without changing code.
    let off = caches.get("off")?;
    off.set("greeting", "gone").await?;
    let kept: Option<String> = off.get("greeting").await?;
    println!("off cache (dummy): set then get = {kept:?}");

    // An unknown alias is an error that lists the configured ones.
    if let Err(error) = caches.get("sesions") {
        println!("\ncaches.get(\"sesions\"): {error}");
    }

    caches.close_all().await?;
    Ok(())
}
