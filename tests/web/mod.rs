//! What the whole-app tests share: an app served on a loopback port, a browser-like client that keeps
//! cookies, the test servers' URLs, and in-process exchanges without a socket ([`oneshot`]).

#![allow(dead_code)]

pub mod oneshot;

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinHandle;
use tower_django::cache::Cache;
use tower_django::sessions::{Session, SessionError};

/// An app served with `axum::serve` on `127.0.0.1`, on a port of its own; stopped when dropped.
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    pub async fn start(app: Router) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server { addr, task }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A cookie jar: name → value.
pub type Jar = HashMap<String, String>;

/// A minimal browser: one keep-alive client, a cookie jar fed by `Set-Cookie` (a cookie deleted with
/// `Max-Age=0` is forgotten).
pub struct Browser {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    jar: Jar,
}

impl Browser {
    pub fn new(base: String) -> Browser {
        Browser {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base,
            jar: HashMap::new(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.get(name).cloned()
    }

    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.jar.insert(name.to_owned(), value.to_owned());
    }

    pub async fn get(&mut self, path: &str) -> (u16, String) {
        self.send(http::Method::GET, path, None).await
    }

    pub async fn get_with(&mut self, path: &str, authorization: &str) -> (u16, String) {
        self.send(http::Method::GET, path, Some(authorization))
            .await
    }

    pub async fn post(&mut self, path: &str) -> (u16, String) {
        self.send(http::Method::POST, path, None).await
    }

    /// One request; the response's status and body (as text), after its cookies went into the jar.
    pub async fn send(
        &mut self,
        method: http::Method,
        path: &str,
        authorization: Option<&str>,
    ) -> (u16, String) {
        let response = self.request(method, path, authorization).await;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the whole body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// One request; the response with its body unread, after its cookies went into the jar.
    pub async fn request(
        &mut self,
        method: http::Method,
        path: &str,
        authorization: Option<&str>,
    ) -> http::Response<hyper::body::Incoming> {
        let request = self.build(method, path, authorization);
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            self.client.request(request),
        )
        .await
        .expect("an answer within 60 s")
        .expect("HTTP over TCP");
        self.keep_all(response.headers());
        response
    }

    /// Like [`Browser::request`], but a connection error or no response head within `deadline` is an
    /// `Err` describing it instead of a panic, so a load test can count failures and go on.
    pub async fn try_request(
        &mut self,
        method: http::Method,
        path: &str,
        deadline: std::time::Duration,
    ) -> Result<http::Response<hyper::body::Incoming>, String> {
        let request = self.build(method, path, None);
        self.try_exchange(request, deadline).await
    }

    /// Sends `request` (built by [`Browser::build`], perhaps given a body since); a connection error or no
    /// response head within `deadline` is an `Err` describing it. The response's cookies go into the jar.
    async fn try_exchange(
        &mut self,
        request: http::Request<Full<Bytes>>,
        deadline: std::time::Duration,
    ) -> Result<http::Response<hyper::body::Incoming>, String> {
        let what = describe(&request);
        let response = match tokio::time::timeout(deadline, self.client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(format!("{what}: {error}")),
            Err(_) => return Err(format!("{what}: no response head within {deadline:?}")),
        };
        self.keep_all(response.headers());
        Ok(response)
    }

    /// Like [`Browser::try_request`], reading the whole body too (within the same `deadline`): status,
    /// headers and body.
    pub async fn try_send(
        &mut self,
        method: http::Method,
        path: &str,
        deadline: std::time::Duration,
    ) -> Result<(u16, http::HeaderMap, Bytes), String> {
        let request = self.build(method, path, None);
        self.try_read(request, deadline).await
    }

    /// Submits an HTML form the way a browser does: `POST path` with the `fields` as an
    /// `application/x-www-form-urlencoded` body. Status, headers and the whole body, as
    /// [`Browser::try_send`] (a redirect is not followed).
    pub async fn try_submit(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        deadline: std::time::Duration,
    ) -> Result<(u16, http::HeaderMap, Bytes), String> {
        let mut request = self.build(http::Method::POST, path, None);
        request.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        *request.body_mut() = Full::new(Bytes::from(form_urlencoded(fields)));
        self.try_read(request, deadline).await
    }

    /// Sends `request` and reads the whole response within `deadline`: status, headers and body.
    async fn try_read(
        &mut self,
        request: http::Request<Full<Bytes>>,
        deadline: std::time::Duration,
    ) -> Result<(u16, http::HeaderMap, Bytes), String> {
        let what = describe(&request);
        let started = tokio::time::Instant::now();
        let response = self.try_exchange(request, deadline).await?;
        let (head, body) = response.into_parts();
        let left = deadline.saturating_sub(started.elapsed());
        let body = match tokio::time::timeout(left, body.collect()).await {
            Ok(Ok(body)) => body.to_bytes(),
            Ok(Err(error)) => return Err(format!("{what}: body: {error}")),
            Err(_) => return Err(format!("{what}: no whole body within {deadline:?}")),
        };
        Ok((head.status.as_u16(), head.headers, body))
    }

    /// Exchanges this browser's cookie jar with `jar`: one connection pool plays many visitors in turn.
    pub fn swap_jar(&mut self, jar: &mut Jar) {
        std::mem::swap(&mut self.jar, jar);
    }

    /// The request, with the jar's cookies and the `Authorization` given.
    fn build(
        &self,
        method: http::Method,
        path: &str,
        authorization: Option<&str>,
    ) -> http::Request<Full<Bytes>> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(http::header::COOKIE, cookies.join("; "));
        }
        if let Some(authorization) = authorization {
            request = request.header(http::header::AUTHORIZATION, authorization);
        }
        request
            .body(Full::new(Bytes::new()))
            .expect("a valid request")
    }

    /// Puts a response's cookies into the jar.
    fn keep_all(&mut self, headers: &http::HeaderMap) {
        for value in headers.get_all(http::header::SET_COOKIE) {
            self.keep(value.to_str().expect("an ASCII Set-Cookie"));
        }
    }

    fn keep(&mut self, set_cookie: &str) {
        let mut attributes = set_cookie.split(';').map(str::trim);
        let Some((name, value)) = attributes.next().and_then(|pair| pair.split_once('=')) else {
            panic!("malformed Set-Cookie: {set_cookie}");
        };
        let deleted = attributes.any(|a| a.eq_ignore_ascii_case("max-age=0"));
        if deleted {
            self.jar.remove(name);
        } else {
            self.jar.insert(name.to_owned(), value.to_owned());
        }
    }
}

/// `METHOD /path?query`, for error messages.
fn describe(request: &http::Request<Full<Bytes>>) -> String {
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |target| target.as_str());
    format!("{} {target}", request.method())
}

/// `fields` as an `application/x-www-form-urlencoded` body: `name=value` pairs joined by `&`, every byte
/// but `A-Z a-z 0-9 * - . _` percent-encoded and spaces as `+` (the HTML form encoding).
pub fn form_urlencoded(fields: &[(&str, &str)]) -> String {
    fn encode(text: &str, out: &mut String) {
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    out.push(char::from(byte))
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{byte:02X}")),
            }
        }
    }
    let mut body = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            body.push('&');
        }
        encode(name, &mut body);
        body.push('=');
        encode(value, &mut body);
    }
    body
}

/// The server URL in `variable`; `None` (said on stderr) when it is unset, a failure when
/// `TEST_REQUIRE_SERVERS=1`.
pub fn server_url(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("TEST_REQUIRE_SERVERS").as_deref() != Ok("1"),
                "{variable} is not set and TEST_REQUIRE_SERVERS=1"
            );
            eprintln!("skipped: {variable} is not set");
            None
        }
    }
}

/// A cache on the server at `url`, under its own Redis namespace.
pub async fn cache_from_url(url: &str, namespace: &str) -> Cache {
    let separator = if url.contains('?') { '&' } else { '?' };
    Cache::from_url(&format!("{url}{separator}namespace={namespace}"))
        .await
        .expect("a cache on the test server")
}

/// A login route: `GET` stores `user` under the session's `"user"` and answers `answer`.
pub fn log_in(user: &'static str, answer: &'static str) -> axum::routing::MethodRouter {
    axum::routing::get(move |session: Session| async move {
        session.insert("user", user).await?;
        Ok::<_, SessionError>(answer)
    })
}

/// A hook that marks every response with `x-hooked: 1`, so a test sees the hooks layer is in the path.
pub struct Stamp;

#[tower_django::hooks::async_trait]
impl tower_django::hooks::Middleware for Stamp {
    async fn process_response(
        &self,
        _request: &http::request::Parts,
        response: &mut tower_django::hooks::Response,
    ) -> Result<(), tower_django::hooks::Exception> {
        response
            .headers_mut()
            .insert("x-hooked", http::HeaderValue::from_static("1"));
        Ok(())
    }
}

/// Two caches on one shared server, each with its own connections (two processes' view of one cache), on
/// the backend `kind` names (`redis`, `redis-cluster`, `memcached`, `postgres`; `file` and `sqlite` in a
/// directory of the system's temporary one) under names of their own (`unique`); `None` (said on stderr)
/// when the server's variable is unset.
pub async fn shared_caches(kind: &str, unique: &str) -> Option<(Cache, Cache)> {
    let local = std::env::temp_dir().join(unique);
    let url = match kind {
        "file" => format!("file://{}", local.display()),
        "sqlite" => {
            std::fs::create_dir_all(&local).expect("a directory for the database");
            format!("sqlite://{}?mode=rwc", local.join("cache.db").display())
        }
        "redis" => format!("{}?namespace={unique}:", server_url("TEST_REDIS_URL")?),
        "redis-cluster" => {
            let urls = server_url("TEST_REDIS_CLUSTER_URLS")?;
            let url = if urls.contains("+cluster://") {
                urls
            } else {
                let nodes: Vec<&str> = urls
                    .split(',')
                    .map(|u| u.trim().trim_start_matches("redis://"))
                    .collect();
                format!("redis+cluster://{}", nodes.join(","))
            };
            format!("{url}?namespace={unique}:")
        }
        "memcached" => format!("{}?key_prefix={unique}", server_url("TEST_MEMCACHED_URL")?),
        "postgres" => format!("{}?table={unique}", server_url("TEST_POSTGRES_URL")?),
        other => panic!("no shared cache of kind {other}"),
    };
    let a = Cache::from_url(&url)
        .await
        .expect("a cache on the test server");
    let b = Cache::from_url(&url)
        .await
        .expect("a cache on the test server");
    Some((a, b))
}

/// `router` as seen behind one proxy: every request has the site's host (`shared.example`), not the
/// port of the process it reached, so several processes make the same page keys.
pub fn behind_proxy(router: Router) -> Router {
    router.layer(tower::util::MapRequestLayer::new(
        |mut request: axum::http::Request<axum::body::Body>| {
            request.headers_mut().insert(
                axum::http::header::HOST,
                axum::http::HeaderValue::from_static("shared.example"),
            );
            request
        },
    ))
}
