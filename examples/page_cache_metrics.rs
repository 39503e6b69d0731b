//! The page cache's metrics in Prometheus' text format: a recorder installed at startup, the layer's
//! counters and histograms (requests by result, stores and the reasons for not storing, backend errors
//! and latency, purges) served at `/metrics` for Prometheus to scrape.
//!
//! ```text
//! cargo run --example page_cache_metrics --features page
//! curl -i http://127.0.0.1:3000/article            # "fwd=uri-miss; stored", then "hit"
//! curl -i -X POST http://127.0.0.1:3000/publish    # a purge
//! curl http://127.0.0.1:3000/metrics               # page_cache_requests_total{cache="articles",result="hit"} …
//! EXAMPLE_SMOKE=1 cargo run --example page_cache_metrics --features page   # what CI runs
//! ```
//!
//! The layer reports through the `metrics` facade, so any exporter works (StatsD, OpenTelemetry, …); the
//! recorder must be installed before the first request. Backend timings are recorded for network
//! backends (Redis, memcached, databases); this example uses the in-process memory cache.

mod support;

use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Extension, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use support::{ensure, BoxError, Client};
use tower_django::cache::backends::MemoryBackend;
use tower_django::cache::Cache;
use tower_django::page::{CachePageLayer, InvalidSetting, PageInvalidator};

async fn article() -> &'static str {
    "<h1>An article</h1>\n"
}

async fn publish(Extension(pages): Extension<PageInvalidator>, headers: HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    match pages.invalidate(host, "/article").await {
        Ok(dropped) => format!("published; stored article dropped: {dropped}\n"),
        Err(error) => format!("published, but the stored article stays: {error}\n"),
    }
}

fn app(prometheus: PrometheusHandle) -> Result<Router, InvalidSetting> {
    let pages = Router::new()
        .route("/article", get(article))
        .route("/publish", post(publish))
        .layer(
            CachePageLayer::new(Cache::new(MemoryBackend::new()))
                .cache_status("articles")?
                .metrics_name("articles"),
        );
    Ok(pages.route(
        "/metrics",
        get(move || std::future::ready(prometheus.render())),
    ))
}

async fn smoke(client: Client) -> Result<(), BoxError> {
    client.get("/article").await?;
    let hit = client.get("/article").await?;
    ensure(hit.header("cache-status") == "articles; hit", "a hit")?;
    client.post("/publish").await?;
    let metrics = client.get("/metrics").await?;
    let text = &metrics.body;
    for line in [
        r#"page_cache_requests_total{cache="articles",result="hit"} 1"#,
        r#"page_cache_requests_total{cache="articles",result="uri_miss"} 1"#,
        r#"page_cache_requests_total{cache="articles",result="method"} 1"#,
        r#"page_cache_stores_total{cache="articles",result="stored",reason=""} 1"#,
        r#"page_cache_purges_total{cache="articles",kind="url"} 1"#,
    ] {
        ensure(
            text.lines().any(|l| l == line),
            &format!("/metrics to show {line}"),
        )?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    support::init_tracing();
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    support::serve(
        app(prometheus)?,
        &[
            "curl -i http://{addr}/article",
            "curl -i -X POST http://{addr}/publish",
            "curl http://{addr}/metrics",
        ],
        smoke,
    )
    .await
}
