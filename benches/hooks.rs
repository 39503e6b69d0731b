//! What `tower-hooks` costs: a plain axum handler vs. the same Router behind a `HooksLayer` of five
//! middleware that implement every hook as a no-op, side by side in one run.
//!
//! `cargo bench --bench hooks -- --measurement-time 3 --warm-up-time 1`
//!
//! Criterion group `hooks` measures one request each way:
//! - `in_process/plain`: `Router::oneshot`, handler returns 13 bytes (the limit);
//! - `in_process/identity_layer`: the same Router with a do-nothing `Router::layer` (what axum charges for
//!   *any* layer applied per route);
//! - `in_process/hooks_5x5`: the same Router with `HooksLayer` of five all-hook no-op middleware;
//! - `loopback/plain`, `loopback/hooks_5x5`: the same two apps served by `axum::serve` on 127.0.0.1, one
//!   keep-alive HTTP/1.1 connection, one request per iteration.
//!
//! Then it prints a summary from its own interleaved timing loops: requests per second each way and
//! "hooks cost X% of plain throughput".

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use comparisons::apps::hooks::noop_layer;
use comparisons::{serve, Conn};
use criterion::Criterion;
use tower::ServiceExt;

const BODY: &str = "Hello, World!";

fn plain() -> Router {
    Router::new().route("/hello", get(|| async { BODY }))
}

fn identity_layer() -> Router {
    plain().layer(tower::layer::util::Identity::new())
}

fn hooks() -> Router {
    plain().layer(noop_layer(5))
}

async fn one_in_process(app: &Router) {
    let req = Request::get("/hello")
        .body(Body::empty())
        .expect("static request");
    let res = app.clone().oneshot(req).await.expect("infallible");
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("in-memory body");
    assert_eq!(body.len(), BODY.len());
    black_box(body);
}

/// One request on a loopback connection, checking the body.
async fn one_loopback(conn: &mut Conn) {
    let body = conn.get().await;
    assert_eq!(body, BODY.as_bytes());
    black_box(body);
}

/// Something one request at a time is sent to: an app called in-process or a loopback connection.
trait Target {
    async fn one(&mut self);
}

impl Target for &Router {
    async fn one(&mut self) {
        one_in_process(self).await;
    }
}

impl Target for Conn {
    async fn one(&mut self) {
        one_loopback(self).await;
    }
}

/// How long `count` requests to `target`, one after the other, take.
fn timed(rt: &tokio::runtime::Runtime, count: usize, target: &mut impl Target) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..count {
            target.one().await;
        }
        start.elapsed()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let (plain_app, identity_app, hooks_app) = (plain(), identity_layer(), hooks());
    let (plain_addr, hooks_addr) =
        rt.block_on(async { (serve(plain()).await, serve(hooks()).await) });

    let mut group = c.benchmark_group("hooks");
    group.bench_function("in_process/plain", |b| {
        b.to_async(&rt).iter(|| one_in_process(&plain_app))
    });
    group.bench_function("in_process/identity_layer", |b| {
        b.to_async(&rt).iter(|| one_in_process(&identity_app))
    });
    group.bench_function("in_process/hooks_5x5", |b| {
        b.to_async(&rt).iter(|| one_in_process(&hooks_app))
    });
    for (name, addr) in [
        ("loopback/plain", plain_addr),
        ("loopback/hooks_5x5", hooks_addr),
    ] {
        let mut conn = rt.block_on(Conn::open(addr, "/hello", None));
        group.bench_function(name, |b| {
            b.iter(|| rt.block_on(one_loopback(&mut conn)));
        });
    }
    group.finish();
}

/// Runs `a` and `b` alternately `rounds` times; returns the median duration (seconds) of each.
fn interleaved<A, B>(rounds: usize, mut a: A, mut b: B) -> (f64, f64)
where
    A: FnMut() -> Duration,
    B: FnMut() -> Duration,
{
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ta.push(a());
        tb.push(b());
    }
    ta.sort();
    tb.sort();
    (ta[rounds / 2].as_secs_f64(), tb[rounds / 2].as_secs_f64())
}

fn summary(full: bool) {
    let rt = runtime();
    let (n, rounds) = if full { (20_000, 9) } else { (200, 1) };
    let (plain_app, identity_app, hooks_app) = (plain(), identity_layer(), hooks());

    let (p, h) = interleaved(
        rounds,
        || timed(&rt, n, &mut &plain_app),
        || timed(&rt, n, &mut &hooks_app),
    );
    let (p2, i) = interleaved(
        rounds,
        || timed(&rt, n, &mut &plain_app),
        || timed(&rt, n, &mut &identity_app),
    );

    let (plain_addr, hooks_addr) =
        rt.block_on(async { (serve(plain()).await, serve(hooks()).await) });
    let mut plain_conn = rt.block_on(Conn::open(plain_addr, "/hello", None));
    let mut hooks_conn = rt.block_on(Conn::open(hooks_addr, "/hello", None));
    let n_tcp = n / 4;
    let (tp, th) = interleaved(
        rounds,
        || timed(&rt, n_tcp, &mut plain_conn),
        || timed(&rt, n_tcp, &mut hooks_conn),
    );

    let rps = |secs: f64, count: usize| count as f64 / secs;
    let line = |label: &str, base: f64, other: f64, count: usize| {
        let (rb, ro) = (rps(base, count), rps(other, count));
        println!(
            "{label:<44} plain {:>9.0} req/s ({:>6.2} µs)   with layer {:>9.0} req/s ({:>6.2} µs)   \
             throughput {:>5.1}% of plain, layer costs {:>5.1}%",
            rb,
            1e6 / rb,
            ro,
            1e6 / ro,
            100.0 * ro / rb,
            100.0 * (1.0 - ro / rb),
        );
    };
    println!();
    println!("== tower-hooks summary (median of {rounds} interleaved rounds) ==");
    line("in-process, HooksLayer 5 middleware x 5 hooks", p, h, n);
    line("in-process, identity Router::layer (axum)", p2, i, n);
    line("loopback HTTP/1.1, HooksLayer 5 x 5", tp, th, n_tcp);
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    summary(full);
}
