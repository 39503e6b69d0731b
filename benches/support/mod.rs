//! What the benches share: their runtimes, the loopback HTTP/1.1 driver (an app served by `axum::serve` on
//! 127.0.0.1 and keep-alive client connections sending a fixed `GET`, each one request at a time), and the
//! arithmetic of their side-by-side reports.

// Each bench uses the part it needs.
#![allow(dead_code)]

use std::convert::Infallible;
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

/// One keep-alive HTTP/1.1 connection to a served app, sending the same `GET` every time.
pub struct Conn {
    stream: TcpStream,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects to `addr`; every [`get`](Self::get) asks for `path`, with `cookie` as its `Cookie` header.
    pub async fn open(addr: SocketAddr, path: &str, cookie: Option<&[u8]>) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect to loopback");
        stream.set_nodelay(true).expect("nodelay");
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n").into_bytes();
        if let Some(cookie) = cookie {
            request.extend_from_slice(b"Cookie: ");
            request.extend_from_slice(cookie);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"\r\n");
        Self {
            stream,
            request,
            buf: vec![0; 64 * 1024],
        }
    }

    /// Sends the request and reads the whole response (head, then `Content-Length` bytes of body); asserts
    /// a `200` and returns the body.
    pub async fn get(&mut self) -> &[u8] {
        self.stream.write_all(&self.request).await.expect("write");
        let mut filled = 0;
        let mut framing: Option<(usize, usize)> = None;
        loop {
            let n = self
                .stream
                .read(&mut self.buf[filled..])
                .await
                .expect("read");
            assert!(n > 0, "server closed the connection");
            filled += n;
            if framing.is_none() {
                framing = head_and_body_len(&self.buf[..filled]);
            }
            match framing {
                Some((head, body)) if filled >= head + body => break,
                _ => assert!(filled < self.buf.len(), "response larger than the buffer"),
            }
        }
        assert!(self.buf.starts_with(b"HTTP/1.1 200"), "status is not 200");
        let (head, body) = framing.unwrap_or((filled, 0));
        let end = head + body;
        &self.buf[head..end]
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
/// whole head is in `bytes`.
fn head_and_body_len(bytes: &[u8]) -> Option<(usize, usize)> {
    let head = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&bytes[..head]).expect("ASCII response head");
    let body = text
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .expect("response without Content-Length");
    Some((head, body))
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
