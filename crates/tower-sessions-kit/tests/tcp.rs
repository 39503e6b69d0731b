//! A whole app over a real TCP socket (`axum::serve` on 127.0.0.1:0) with a client that keeps cookies the
//! way a browser does: login, read, key rotation, logout.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A minimal browser: remembers cookies from `Set-Cookie`, forgets the ones deleted with `Max-Age=0`.
struct Browser {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    base: String,
    jar: HashMap<String, String>,
}

impl Browser {
    async fn get(&mut self, path: &str) -> (u16, String, Vec<String>) {
        let mut request = http::Request::get(format!("{}{path}", self.base));
        if !self.jar.is_empty() {
            let header: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(http::header::COOKIE, header.join("; "));
        }
        let response = self
            .client
            .request(request.body(Empty::new()).expect("request"))
            .await
            .expect("HTTP over TCP");
        let status = response.status().as_u16();
        let mut set = Vec::new();
        for value in response.headers().get_all(http::header::SET_COOKIE) {
            let text = value.to_str().expect("ascii").to_owned();
            let cookie = cookie::Cookie::parse(text.clone()).expect("valid Set-Cookie");
            if cookie.max_age() == Some(time::Duration::ZERO) {
                self.jar.remove(cookie.name());
            } else {
                self.jar
                    .insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
            set.push(text);
        }
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned(), set)
    }
}

#[tokio::test]
async fn a_browser_session_over_tcp() {
    let (store, _) = support::memory_store();
    let store: Arc<dyn tower_sessions_kit::SessionStore> = Arc::new(store);
    let app = support::app(Arc::clone(&store));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut browser = Browser {
        client: Client::builder(TokioExecutor::new()).build_http(),
        base: format!("http://{addr}"),
        jar: HashMap::new(),
    };

    let (status, body, _) = browser.get("/read").await;
    assert_eq!((status, body.as_str()), (200, "none"));
    assert!(browser.jar.is_empty(), "reading creates no session");

    let (status, _, set) = browser.get("/set").await;
    assert_eq!(status, 200);
    assert_eq!(set.len(), 1);
    let first_key = browser.jar.get("sessionid").cloned().expect("cookie kept");
    assert_eq!(browser.get("/read").await.1, "42");

    // Login-style key rotation: same data, new key, old key dead.
    browser.get("/cycle").await;
    let second_key = browser.jar.get("sessionid").cloned().expect("cookie kept");
    assert_ne!(first_key, second_key);
    assert_eq!(browser.get("/read").await.1, "42");
    let old = tower_sessions_kit::SessionKey::parse(&first_key).expect("key");
    assert!(!store.exists(&old).await.expect("exists"));

    // Logout: the cookie is deleted and the data gone.
    let (_, _, set) = browser.get("/flush").await;
    assert!(set[0].contains("Max-Age=0"), "{set:?}");
    assert!(browser.jar.is_empty());
    assert_eq!(browser.get("/read").await.1, "none");

    server.abort();
}
