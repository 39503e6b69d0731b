//! The tower-django demo: a tiny blog that shows the page cache, the fragment cache, sessions, login and
//! logout, Django-style middleware with friendly error pages, and server-sent events.
//!
//! ```text
//! cargo run --example demo                      # then open http://127.0.0.1:3000/
//! curl -i http://127.0.0.1:3000/                # Cache-Status: demo; fwd=uri-miss; stored — again: demo; hit
//! curl -N http://127.0.0.1:3000/events          # an event a second
//! curl -i http://127.0.0.1:3000/boom            # a panic becomes a friendly 500 page; the server goes on
//! ```
//!
//! Everything is embedded by default: the cache in memory, sessions in a SQLite file in the system's temp
//! directory (`<temp>/tower-django-demo/sessions.db`, kept between runs, so a login survives a restart).
//! The start-up lines say which backends are in use. Environment:
//!
//! - `DEMO_ADDR`: where to listen (`127.0.0.1:3000`; port 0 picks a free one);
//! - `CACHE_URL`: the cache for pages and fragments, e.g. `redis://127.0.0.1:6379`;
//! - `SESSION_URL`: the session store: `sqlite://…`, `postgres://…`, `mysql://…` keep sessions in a table
//!   (`DatabaseStore`), a cache URL such as `redis://…` or `memory://` keeps them in that cache
//!   (`CacheStore`);
//! - `DEMO_SMOKE=1`: serve, request every route once, print a summary and exit (0 when all passed). CI
//!   runs `DEMO_SMOKE=1 DEMO_ADDR=127.0.0.1:0 cargo run --example demo`; this mode keeps its sessions in
//!   a fresh temp directory unless `SESSION_URL` is set.
//! - `RUST_LOG`: the log filter (`info`).

mod app;
mod smoke;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use app::backends::{BoxError, DEFAULT_CACHE_URL};
use app::Backends;

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr, so stdout holds only what the demo says to you.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    let smoke = std::env::var("DEMO_SMOKE").is_ok_and(|value| value == "1");
    let addr: SocketAddr = env_or("DEMO_ADDR", "127.0.0.1:3000")
        .parse()
        .map_err(|error| format!("DEMO_ADDR: {error}"))?;
    let cache_url = env_or("CACHE_URL", DEFAULT_CACHE_URL);
    // A smoke run keeps its sessions apart from a demo you may be running by hand; removed at exit.
    let scratch = if smoke {
        Some(tempfile::tempdir()?)
    } else {
        None
    };
    let session_url = match std::env::var("SESSION_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            let dir = match &scratch {
                Some(scratch) => scratch.path().to_owned(),
                None => std::env::temp_dir().join("tower-django-demo"),
            };
            sqlite_file_url(&dir)?
        }
    };

    let backends = Backends::connect(&cache_url, &session_url).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| format!("cannot listen on {addr}: {error}"))?;
    let addr = listener.local_addr()?;
    let app = app::router(&backends);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    println!("tower-django demo on http://{addr}/");
    println!("  cache:    {} (CACHE_URL)", backends.cache_label);
    println!("  sessions: {} (SESSION_URL)", backends.sessions_label);

    if smoke {
        let outcome = smoke::run(addr).await;
        server.abort();
        return outcome;
    }

    println!(
        "Try:\n  open http://{addr}/ in a browser: click a post, log in, reload, log out\n  \
         curl -i http://{addr}/          # twice: Cache-Status says stored, then hit\n  \
         curl -N http://{addr}/events    # server-sent events, one a second\n  \
         curl -i http://{addr}/boom      # a panic, answered with a friendly 500 page\n\
         Ctrl-C to stop."
    );
    tokio::select! {
        served = server => served??,
        _ = tokio::signal::ctrl_c() => println!("bye"),
    }
    Ok(())
}

/// The variable's value, or `default` when it is unset or empty.
fn env_or(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .ok()
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// `sqlite://<dir>/sessions.db?mode=rwc` (the file is created if missing), creating `dir` first.
fn sqlite_file_url(dir: &Path) -> Result<String, BoxError> {
    std::fs::create_dir_all(dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    Ok(format!(
        "sqlite://{}?mode=rwc",
        dir.join("sessions.db").display()
    ))
}
