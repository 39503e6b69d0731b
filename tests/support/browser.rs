//! A minimal browser: one keep-alive HTTP/1.1 connection pool (hyper-util's client) and a cookie jar, so
//! each simulated user keeps its own session across requests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{self, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How long one request may take, body included, before it counts as hung.
pub const REQUEST_LIMIT: Duration = Duration::from_secs(15);

/// The session cookie's name (the layer's default).
pub const SESSION_COOKIE: &str = "sessionid";

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body as text.
    pub body: String,
    /// The `Cache-Status` header, if any.
    pub cache_status: Option<String>,
}

/// Why a request got no answer.
#[derive(Debug, Clone)]
pub enum NoReply {
    /// Nothing within [`REQUEST_LIMIT`]: the request hung.
    Timeout,
    /// The connection failed.
    Transport(String),
}

/// One user: remembers cookies from `Set-Cookie` and forgets those deleted with `Max-Age=0`.
pub struct Browser {
    client: Client<HttpConnector, Empty<Bytes>>,
    base: String,
    jar: HashMap<String, String>,
}

impl Browser {
    /// A browser with an empty jar talking to `addr`.
    pub fn new(addr: SocketAddr) -> Browser {
        Browser {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{addr}"),
            jar: HashMap::new(),
        }
    }

    /// A browser talking to `addr` whose jar already holds the session cookie `key`: another tab of a
    /// browser that has the session.
    pub fn with_session(addr: SocketAddr, key: &str) -> Browser {
        let mut browser = Browser::new(addr);
        browser
            .jar
            .insert(SESSION_COOKIE.to_owned(), key.to_owned());
        browser
    }

    /// The session key the jar holds now.
    pub fn session_key(&self) -> Option<&str> {
        self.jar.get(SESSION_COOKIE).map(String::as_str)
    }

    /// `GET path` with the jar's cookies, bounded by [`REQUEST_LIMIT`].
    pub async fn get(&mut self, path: &str) -> Result<Reply, NoReply> {
        match tokio::time::timeout(REQUEST_LIMIT, self.exchange(path)).await {
            Ok(result) => result,
            Err(_) => Err(NoReply::Timeout),
        }
    }

    async fn exchange(&mut self, path: &str) -> Result<Reply, NoReply> {
        let mut request = http::Request::get(format!("{}{path}", self.base));
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(header::COOKIE, cookies.join("; "));
        }
        let request = request.body(Empty::new()).expect("a valid request");
        let response = self
            .client
            .request(request)
            .await
            .map_err(|error| NoReply::Transport(format!("{error:?}")))?;
        let status = response.status().as_u16();
        for value in response.headers().get_all(header::SET_COOKIE) {
            let text = value.to_str().expect("an ASCII Set-Cookie");
            let cookie = cookie::Cookie::parse(text.to_owned()).expect("a valid Set-Cookie");
            if cookie.max_age() == Some(cookie::time::Duration::ZERO) {
                self.jar.remove(cookie.name());
            } else {
                self.jar
                    .insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
        let cache_status = response
            .headers()
            .get("cache-status")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| NoReply::Transport(format!("body: {error:?}")))?
            .to_bytes();
        Ok(Reply {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            cache_status,
        })
    }
}
