//! Django's 2026 security fixes, as regression tests over the whole stack (page cache, sessions, the
//! signed-cookie store): each one fails on the unsafe behaviour it guards against.
//!
//! - a session saved on every request still sends `Vary: Cookie`, so no cache shares its response;
//! - `Vary: *` is never stored;
//! - whitespace and case in `Vary` names neither split nor merge cache keys;
//! - `Cache-Control` directives are matched whatever their case;
//! - a page that varies on `Cookie` is never served to another visitor who shares unrelated cookies;
//! - an absent varied header and an empty one are different variants;
//! - the signed-cookie store's signatures are bound to its purpose, so a value signed with the same key for
//!   anything else is not a session.

mod web;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, COOKIE, VARY};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use cache_core::backends::MemoryBackend;
use cache_core::Cache;
use tower_cache_page::{CachePageLayer, VaryOnHeadersLayer};
use tower_sessions_kit::store::{CacheStore, SignedCookieStore};
use tower_sessions_kit::{Key, Session, SessionError, SessionKey, SessionLayer, SessionStore};

use web::oneshot::{call, Reply};

/// `GET path` with `headers` through `app`, read whole.
async fn send(app: &Router, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    call(app, request.body(Body::empty()).expect("request"))
        .await
        .expect("body")
}

fn memory_cache() -> Cache {
    Cache::new(MemoryBackend::new())
}

fn page_cache(cache: Cache) -> CachePageLayer {
    CachePageLayer::new(cache)
        .timeout(Duration::from_secs(300))
        .cache_status("t")
        .expect("a valid cache status name")
}

/// A route answering with the given `Vary` and `Cache-Control` (either may be empty for none), counting
/// how often it runs and echoing the request's `Accept-Language` and `Accept-Encoding` (absent and empty
/// told apart).
fn echo_route(vary: &'static str, cache_control: &'static str, calls: Arc<AtomicUsize>) -> Router {
    Router::new().route(
        "/",
        get(move |headers: HeaderMap| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let show = |name: &str| match headers.get(name) {
                None => "absent".to_owned(),
                Some(value) => format!("{:?}", value.as_bytes()),
            };
            let body = format!(
                "lang={} enc={}",
                show("accept-language"),
                show("accept-encoding")
            );
            let mut response = Response::new(Body::from(body));
            if !vary.is_empty() {
                response
                    .headers_mut()
                    .insert(VARY, HeaderValue::from_static(vary));
            }
            if !cache_control.is_empty() {
                response
                    .headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
            }
            response
        }),
    )
}

// ---- sessions saved on every request -----------------------------------------------------------------

/// Django fix: with `SESSION_SAVE_EVERY_REQUEST`, a response that re-sends the session cookie of a request
/// that never read the session must still say `Vary: Cookie`; without it, a cache in front (here the page
/// cache with `allow_set_cookie`, as Django's) stores the response with the visitor's `Set-Cookie` and hands
/// the session to the next visitor.
#[tokio::test]
async fn a_session_saved_on_every_request_still_varies_on_cookie() {
    let (store, _) = memory_session_store();
    let sessions = SessionLayer::new(store).save_every_request(true);
    let app = Router::new()
        .route("/login", web::log_in("alice", "logged in"))
        // Never touches the session.
        .route("/page", get(|| async { "the same page for everyone" }))
        .layer(sessions)
        .layer(page_cache(memory_cache()).allow_set_cookie(true));

    let alice = send(&app, "/login", &[])
        .await
        .session_cookie()
        .expect("a session cookie at login");
    let alice_cookie = format!("sessionid={alice}");

    let alice_page = send(&app, "/page", &[("cookie", &alice_cookie)]).await;
    assert_eq!(alice_page.status, StatusCode::OK);
    assert_eq!(
        alice_page.session_cookie().as_deref(),
        Some(alice.as_str()),
        "save_every_request re-sends the cookie"
    );
    assert!(
        alice_page.varies_on_cookie(),
        "a response setting the session cookie must vary on Cookie: {:?}",
        alice_page.headers
    );
    assert!(
        !alice_page.stored(),
        "a response setting a cookie and varying on Cookie is never stored: {}",
        alice_page.cache_status()
    );

    let stranger = send(&app, "/page", &[]).await;
    assert_eq!(
        stranger.session_cookie(),
        None,
        "another visitor never receives alice's session cookie"
    );
    assert!(!stranger.hit(), "{}", stranger.cache_status());
}

// ---- Vary ---------------------------------------------------------------------------------------------

/// Django fix: `Vary: *` (however spelled) means the response can never be reused, so it is never stored.
#[tokio::test]
async fn a_response_varying_on_star_is_never_stored() {
    for vary in ["*", " * ", "Accept-Language, *", "Cookie,*"] {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = echo_route(vary, "", Arc::clone(&calls)).layer(page_cache(memory_cache()));
        assert_never_stored(&app, &calls, vary).await;
    }
}

/// Django fix: `Vary: Accept-Language` and `vary:  accept-language ,` name the same header: the two
/// spellings share one key set (a page stored under one is found under the other, and re-learning the list
/// in the other spelling keeps the stored variants), while different languages stay apart.
#[tokio::test]
async fn vary_whitespace_and_case_neither_split_nor_merge_keys() {
    let cache = memory_cache();
    let calls = Arc::new(AtomicUsize::new(0));
    // Two routes on one URL and one cache: the same page, with its `Vary` spelt two ways.
    let tidy = echo_route("Accept-Language", "", Arc::clone(&calls))
        .layer(page_cache(cache.clone()).header_list_memo(Duration::ZERO));
    let sloppy = echo_route("  accept-language ,", "", Arc::clone(&calls))
        .layer(page_cache(cache.clone()).header_list_memo(Duration::ZERO));

    let en = [("accept-language", "en")];
    let fr = [("accept-language", "fr")];
    assert!(send(&tidy, "/", &en).await.stored());
    // The other spelling: `en` is found, `fr` is its own variant and stored next to `en`.
    let reply = send(&sloppy, "/", &en).await;
    assert!(
        reply.hit(),
        "same header, same key: {}",
        reply.cache_status()
    );
    let reply = send(&sloppy, "/", &fr).await;
    assert!(
        !reply.hit(),
        "different values, different keys: {}",
        reply.cache_status()
    );
    assert!(reply.stored(), "{}", reply.cache_status());
    assert_eq!(reply.text(), format!("lang={:?} enc=absent", b"fr"));
    // Storing `fr` under the other spelling kept the learnt list (and so `en`) as it was.
    for (app, headers, lang) in [(&tidy, en, "en"), (&tidy, fr, "fr"), (&sloppy, en, "en")] {
        let reply = send(app, "/", &headers).await;
        assert!(reply.hit(), "{lang}: {}", reply.cache_status());
        assert_eq!(
            reply.text(),
            format!("lang={:?} enc=absent", lang.as_bytes())
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// Distinct varied headers are distinct key parts: requests that differ only in `Accept-Encoding` get
/// their own pages, and moving a value from one header to the other is another variant.
#[tokio::test]
async fn distinct_varied_headers_make_distinct_keys() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = echo_route("Accept-Language, ACCEPT-ENCODING", "", Arc::clone(&calls))
        .layer(page_cache(memory_cache()));
    let requests: [&[(&str, &str)]; 4] = [
        &[("accept-language", "en"), ("accept-encoding", "gzip")],
        &[("accept-language", "en"), ("accept-encoding", "br")],
        &[("accept-language", "engzip")],
        &[("accept-encoding", "engzip")],
    ];
    for headers in requests {
        let reply = send(&app, "/", headers).await;
        assert!(!reply.hit(), "{headers:?}: {}", reply.cache_status());
    }
    for headers in requests {
        let reply = send(&app, "/", headers).await;
        assert!(reply.hit(), "{headers:?}: {}", reply.cache_status());
    }
    assert_eq!(calls.load(Ordering::SeqCst), requests.len());
}

/// Django fix: an absent varied header and an empty one are different requests (Django's old key
/// concatenated values, so both added nothing).
#[tokio::test]
async fn an_absent_varied_header_and_an_empty_one_have_different_keys() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app =
        echo_route("Accept-Language", "", Arc::clone(&calls)).layer(page_cache(memory_cache()));
    let absent = send(&app, "/", &[]).await;
    assert!(absent.stored(), "{}", absent.cache_status());
    let empty = send(&app, "/", &[("accept-language", "")]).await;
    assert!(!empty.hit(), "{}", empty.cache_status());
    assert_eq!(empty.text(), "lang=[] enc=absent");
    assert_eq!(send(&app, "/", &[]).await.text(), "lang=absent enc=absent");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

// ---- Cache-Control ------------------------------------------------------------------------------------

/// Django fix: `private`, `no-store` and `no-cache` are recognised in any case (directive names are
/// case-insensitive), so `PRIVATE` is as private as `private`.
#[tokio::test]
async fn cache_control_directives_are_matched_without_regard_to_case() {
    for cache_control in [
        "PRIVATE",
        "Private",
        "No-Store",
        "NO-STORE",
        "NO-CACHE",
        "No-Cache=\"Set-Cookie\"",
        "max-age=60, PRIVATE",
        "Public, max-age=60, No-Store",
    ] {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = echo_route("", cache_control, Arc::clone(&calls)).layer(
            CachePageLayer::new(memory_cache())
                .cache_status("t")
                .expect("a valid cache status name"),
        );
        assert_never_stored(&app, &calls, cache_control).await;
    }
}

/// Two `GET /` through `app`, whose route counts its runs in `calls`: the first answer is not stored, the
/// second is not a hit, and the route ran both times. `case` names the header value under test.
async fn assert_never_stored(app: &Router, calls: &AtomicUsize, case: &str) {
    let first = send(app, "/", &[]).await;
    assert!(!first.stored(), "{case:?}: {}", first.cache_status());
    let second = send(app, "/", &[]).await;
    assert!(!second.hit(), "{case:?}: {}", second.cache_status());
    assert_eq!(calls.load(Ordering::SeqCst), 2, "{case:?}");
}

// ---- Vary: Cookie across visitors ---------------------------------------------------------------------

/// Django fix: a page that varies on `Cookie` is keyed on the whole cookie header, so two visitors who
/// share unrelated cookies (analytics, CSRF, consent) but not the session never see each other's page, and
/// a visitor with only the unrelated cookies never sees a signed-in page.
#[tokio::test]
async fn a_page_varying_on_cookie_is_not_shared_by_visitors_with_the_same_unrelated_cookies() {
    let (store, _) = memory_session_store();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let app = Router::new()
        .route(
            "/login/{name}",
            get(
                |session: Session, axum::extract::Path(name): axum::extract::Path<String>| async move {
                    session.insert("user", &name).await?;
                    Ok::<_, SessionError>("logged in")
                },
            ),
        )
        .route(
            "/me",
            get(move |session: Session| {
                counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    let user: Option<String> = session.get("user").await?;
                    Ok::<_, SessionError>(format!("hello {}", user.as_deref().unwrap_or("stranger")))
                }
            }),
        )
        .layer(SessionLayer::new(store))
        .layer(page_cache(memory_cache()));

    let alice = send(&app, "/login/alice", &[])
        .await
        .session_cookie()
        .expect("alice");
    let bob = send(&app, "/login/bob", &[])
        .await
        .session_cookie()
        .expect("bob");
    let unrelated = "_ga=GA1.2.3; csrftoken=abcdefgh; consent=yes";
    let alice_cookies = format!("{unrelated}; sessionid={alice}");
    let bob_cookies = format!("{unrelated}; sessionid={bob}");

    let page = send(&app, "/me", &[("cookie", &alice_cookies)]).await;
    assert_eq!(page.text(), "hello alice");
    assert!(page.stored(), "{}", page.cache_status());
    assert!(page.varies_on_cookie());

    let page = send(&app, "/me", &[("cookie", &bob_cookies)]).await;
    assert_eq!(page.text(), "hello bob", "{}", page.cache_status());
    let page = send(&app, "/me", &[("cookie", unrelated)]).await;
    assert_eq!(page.text(), "hello stranger", "{}", page.cache_status());
    // Alice's own page is a hit: the cache still works for her.
    let page = send(&app, "/me", &[("cookie", &alice_cookies)]).await;
    assert_eq!(page.text(), "hello alice");
    assert!(page.hit(), "{}", page.cache_status());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// The same with `VaryOnHeadersLayer::cookie()` and cookies sent on several `Cookie` lines (as HTTP/2
/// clients do): moving a cookie from one line to another never matches another visitor's page.
#[tokio::test]
async fn split_cookie_lines_never_match_another_visitors_page() {
    let app = Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move {
                let lines: Vec<String> = headers
                    .get_all(COOKIE)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                lines.join(" | ")
            })
            .layer(VaryOnHeadersLayer::cookie()),
        )
        .layer(page_cache(memory_cache()));
    let send_lines = |lines: &'static [&'static str]| {
        let app = app.clone();
        async move {
            let mut request = Request::get("/");
            for line in lines {
                request = request.header(COOKIE, *line);
            }
            call(&app, request.body(Body::empty()).expect("request"))
                .await
                .expect("body")
                .text()
        }
    };
    assert_eq!(
        send_lines(&["a=1; sessionid=alice"]).await,
        "a=1; sessionid=alice"
    );
    assert_eq!(
        send_lines(&["a=1", "sessionid=bob"]).await,
        "a=1 | sessionid=bob"
    );
    assert_eq!(
        send_lines(&["a=1; sessionid=", "bob"]).await,
        "a=1; sessionid= | bob"
    );
    assert_eq!(send_lines(&["a=1"]).await, "a=1");
    assert_eq!(
        send_lines(&["a=1; sessionid=alice"]).await,
        "a=1; sessionid=alice"
    );
}

// ---- signed cookies -----------------------------------------------------------------------------------

/// Django fix: a signature is bound to its salt. A value signed with the application's key for another
/// purpose (here a `cookie` crate signed cookie, as axum-extra's `SignedCookieJar` makes, whose content a
/// client may choose) is not a session, even when its content is a well-formed session payload.
#[tokio::test]
async fn a_value_signed_with_the_same_key_for_another_purpose_is_not_a_session() {
    use base64::Engine;
    let key = Key::generate();
    let store = SignedCookieStore::new(key.clone());
    let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"e":99999999999999,"d":{"user":"admin"}}"#);
    for name in [
        "preferences",
        "tower_sessions_kit.signed_cookies",
        "sessionid",
    ] {
        let mut jar = cookie::CookieJar::new();
        jar.signed_mut(&key)
            .add(cookie::Cookie::new(name, forged_payload.clone()));
        let signed = jar.get(name).expect("signed cookie").value().to_owned();
        let Some(candidate) = SessionKey::from_cookie_value(&signed) else {
            continue;
        };
        assert_eq!(
            store.load(&candidate).await.expect("no store error"),
            None,
            "signed as {name:?}: accepted as a session"
        );
        assert!(!store.exists(&candidate).await.expect("no store error"));
    }
    // Through the layer too: the forged value reads as an empty session.
    let app = Router::new()
        .route(
            "/me",
            get(|session: Session| async move {
                let user: Option<String> = session.get("user").await?;
                Ok::<_, SessionError>(user.unwrap_or_default())
            }),
        )
        .layer(SessionLayer::new(store));
    let mut jar = cookie::CookieJar::new();
    jar.signed_mut(&key)
        .add(cookie::Cookie::new("prefs", forged_payload));
    let forged = jar.get("prefs").expect("signed").value().to_owned();
    let reply = send(&app, "/me", &[("cookie", &format!("sessionid={forged}"))]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "", "forged session data was read");
}

// ---- helpers ------------------------------------------------------------------------------------------

fn memory_session_store() -> (CacheStore, Cache) {
    let cache = memory_cache();
    (CacheStore::new(cache.clone()), cache)
}
