//! The benchmarks of tower-django beside plain axum and the peer crates (tower-sessions,
//! axum-response-cache, tower-http-cache, hitbox). Never published: this package owns every peer
//! dependency, so that the crates users download list only ours.
//!
//! `cargo bench --bench load` is the one command that measures every layer over HTTP (see [`run`]); it
//! prints its tables and writes JSON, Markdown and an SVG chart under `target/load/`, from which
//! `cargo run -p comparisons --bin benchmarks-md` regenerates `BENCHMARKS.md` ([`benchmarks_md`]). The
//! other benches (`cache_ops`, `hooks`, `page_cache`, `sessions`) are in-process micro-benchmarks.
//!
//! What they share: runtimes, the loopback HTTP/1.1 driver (an app served by `axum::serve` on 127.0.0.1 and
//! keep-alive client connections, each one request at a time), the load generator over such connections
//! ([`load`]), the apps ([`apps`]) and session stores ([`stores`]) they compare, and the arithmetic of the
//! side-by-side reports.

// Each bench uses the part it needs.
#![allow(dead_code)]

pub mod apps;
pub mod benchmarks_md;
pub mod chart;
pub mod load;
pub mod output;
pub mod results;
pub mod run;
pub mod stores;
pub mod table;
pub mod targets;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::{Router, ServiceExt as _};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::util::BoxCloneSyncService;

/// An app as one type, whatever its layers: what the in-process measurements call.
pub type App = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// A single-threaded runtime: client and app share it, so the bench measures the app's work, not
/// scheduling across threads.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("tokio runtime: {error}"))
}

/// A runtime of two worker threads: client and server may sit on different threads, as they would in
/// different processes.
pub fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("tokio runtime: {error}"))
}

/// Serves `app` on a fresh port of 127.0.0.1 (a task on the current runtime); returns its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = listen().await;
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Like [`serve`], for an [`App`] (served as it is, with nothing added in front).
pub async fn serve_app(app: App) -> SocketAddr {
    let listener = listen().await;
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service()).await;
    });
    addr
}

async fn listen() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback")
}

/// A `GET` of `path` as HTTP/1.1 bytes, with `cookie` as its `Cookie` header: what a browser sends.
pub fn get_request(path: &str, cookie: Option<&[u8]>) -> Vec<u8> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n").into_bytes();
    if let Some(cookie) = cookie {
        request.extend_from_slice(b"Cookie: ");
        request.extend_from_slice(cookie);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request
}

/// One keep-alive HTTP/1.1 connection that sends whatever request it is given and reads the whole response:
/// what [`Conn`] and the load generator ([`load`]) share. Failures are errors, not panics, so that a load
/// run can count them and go on.
pub struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A response read by [`Wire::exchange`], borrowed from the connection's buffer.
pub struct Reply<'a> {
    /// The status code.
    pub status: u16,
    /// The head, through the blank line.
    pub head: &'a [u8],
    /// The body (`Content-Length` bytes).
    pub body: &'a [u8],
}

impl Reply<'_> {
    /// The first value of the header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(self.head)
            .ok()?
            .split("\r\n")
            .find_map(|line| {
                let (n, value) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| value.trim())
            })
    }
}

impl Wire {
    /// Connects to `addr` (without Nagle's delay, as a browser's small requests would go).
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Sends `request` and reads the whole response (head, then `Content-Length` bytes of body).
    pub async fn exchange(&mut self, request: &[u8]) -> io::Result<Reply<'_>> {
        self.stream.write_all(request).await?;
        let mut filled = 0;
        let (head, body) = loop {
            let n = self.stream.read(&mut self.buf[filled..]).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            }
            filled += n;
            match head_and_body_len(&self.buf[..filled])? {
                Some((head, body)) if filled >= head + body => break (head, body),
                _ if filled == self.buf.len() => {
                    return Err(malformed("response larger than the buffer"))
                }
                _ => {}
            }
        };
        let status = self
            .buf
            .strip_prefix(b"HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| std::str::from_utf8(code).ok()?.parse().ok())
            .ok_or_else(|| malformed("no HTTP/1.1 status line"))?;
        Ok(Reply {
            status,
            head: &self.buf[..head],
            body: &self.buf[head..head + body],
        })
    }
}

fn malformed(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// One keep-alive HTTP/1.1 connection to a served app, sending the same `GET` every time.
pub struct Conn {
    wire: Wire,
    request: Vec<u8>,
}

impl Conn {
    /// Connects to `addr`; every [`get`](Self::get) asks for `path`, with `cookie` as its `Cookie` header.
    pub async fn open(addr: SocketAddr, path: &str, cookie: Option<&[u8]>) -> Self {
        Self {
            wire: Wire::connect(addr).await.expect("connect to loopback"),
            request: get_request(path, cookie),
        }
    }

    /// Sends the request and reads the whole response; asserts a `200` and returns the body.
    pub async fn get(&mut self) -> &[u8] {
        let reply = self
            .wire
            .exchange(&self.request)
            .await
            .unwrap_or_else(|error| panic!("exchange over loopback: {error}"));
        assert_eq!(reply.status, 200, "status is not 200");
        reply.body
    }
}

/// Sends requests on each connection, all at once, until `deadline` (each connection one request at a
/// time); returns the connections and how many responses they read in all.
pub async fn keep_sending(conns: Vec<Conn>, deadline: Instant) -> (Vec<Conn>, u64) {
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            tokio::spawn(async move {
                let mut done = 0_u64;
                while Instant::now() < deadline {
                    std::hint::black_box(conn.get().await);
                    done += 1;
                }
                (conn, done)
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(tasks.len());
    let mut total = 0;
    for task in tasks {
        let (conn, done) = task.await.expect("client task");
        conns.push(conn);
        total += done;
    }
    (conns, total)
}

/// The length of the response head (through the blank line) and the body's `Content-Length`, once the
/// whole head is in `bytes` (`None` before). Parsed by `httparse` (hyper's own parser, SIMD): the client
/// shares the machine with the server, and a byte-at-a-time scan would charge every variant in proportion
/// to the size of its response head (a `Set-Cookie` would cost the server's throughput twice).
fn head_and_body_len(bytes: &[u8]) -> io::Result<Option<(usize, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(bytes) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(malformed("unparsable response head")),
    };
    let body = response
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("content-length"))
        .and_then(|header| std::str::from_utf8(header.value).ok()?.trim().parse().ok())
        .ok_or_else(|| malformed("response without Content-Length"))?;
    Ok(Some((head, body)))
}

/// The middle of `values` (the upper one of an even count), `NaN` when there are none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The rate of the variant `name` among `rates`, `NaN` when it is not there (not run).
pub fn rate_of(rates: &[(&str, f64)], name: &str) -> f64 {
    rates
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(f64::NAN, |(_, r)| *r)
}
