//! Over a real socket: `axum::serve` on 127.0.0.1, raw HTTP/1.1 requests. A panicking handler and a
//! panicking hook answer 500 and the server keeps serving, on new and on kept-alive connections.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{quiet_panics, Rec, Trace};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tower_hooks::HooksLayer;

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// Reads one HTTP/1.1 response with a content-length body; returns status and body.
async fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).await.unwrap();
        if header == "\r\n" || header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.unwrap();
    (status, String::from_utf8(body).unwrap())
}

async fn request(reader: &mut BufReader<TcpStream>, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    reader.get_mut().write_all(req.as_bytes()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), read_response(reader))
        .await
        .expect("server answered within 10 s")
}

async fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(addr).await.unwrap())
}

/// Serves `app`, asks for `failing` (a 500), then for `/ok` on the same connection, which must still be
/// served; returns the server's address and the connection, kept alive.
async fn fails_then_serves(app: axum::Router, failing: &str) -> (SocketAddr, BufReader<TcpStream>) {
    let addr = serve(app).await;
    let mut conn = connect(addr).await;
    assert_eq!(
        request(&mut conn, failing).await,
        (500, "Internal Server Error".into())
    );
    assert_eq!(request(&mut conn, "/ok").await, (200, "ok".into()));
    (addr, conn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_a_500_and_the_server_keeps_serving() {
    quiet_panics();
    let trace = Trace::default();
    let app = common::router(&trace).layer(HooksLayer::new().push(Rec::new("A", &trace)));
    // Same connection: the panic does not cost the client its keep-alive connection.
    let (addr, mut conn) = fails_then_serves(app, "/panic").await;
    assert_eq!(
        request(&mut conn, "/raise/http404").await,
        (404, "Not Found".into())
    );

    // Many connections at once, panics interleaved with good requests.
    let mut tasks = Vec::new();
    for i in 0..20 {
        tasks.push(tokio::spawn(async move {
            let mut conn = connect(addr).await;
            let path = if i % 2 == 0 { "/panic" } else { "/ok" };
            request(&mut conn, path).await.0
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10);

    let mut conn = connect(addr).await;
    assert_eq!(request(&mut conn, "/users/5").await, (200, "user 5".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_hook_is_a_500_and_the_server_keeps_serving() {
    quiet_panics();
    let trace = Trace::default();
    struct PanicOnBoom;
    #[tower_hooks::async_trait]
    impl tower_hooks::Middleware for PanicOnBoom {
        async fn process_request(
            &self,
            r: &mut tower_hooks::Request,
        ) -> Result<Option<tower_hooks::Response>, tower_hooks::Exception> {
            if r.uri().query() == Some("boom") {
                panic!("hook panicked on purpose");
            }
            Ok(None)
        }
    }
    let app = common::router(&trace).layer(
        HooksLayer::new()
            .push(Rec::new("A", &trace))
            .push(PanicOnBoom),
    );
    fails_then_serves(app, "/ok?boom").await;
}
