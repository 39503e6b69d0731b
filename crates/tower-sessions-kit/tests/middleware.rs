//! The layer's rules, through a real axum `Router` (`tower::ServiceExt::oneshot`): cookie attributes,
//! `Vary`, statuses and store contents.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use cache_core::Cache;
use support::*;
use tower_sessions_kit::store::SignedCookieStore;
use tower_sessions_kit::{InvalidSetting, Key, SameSite, SessionKey, SessionLayer, SessionStore};

fn memory() -> (Arc<dyn SessionStore>, Cache) {
    let (store, cache) = memory_store();
    (Arc::new(store), cache)
}

fn key_of(reply: &Reply) -> SessionKey {
    let cookie = reply.session_cookie().expect("a session cookie");
    SessionKey::from_cookie_value(cookie.value()).expect("a key")
}

/// A memory-backed app configured by `configure`, and the key of a session `/set` made on it.
async fn with_session(
    configure: impl FnOnce(SessionLayer) -> SessionLayer,
) -> (Arc<dyn SessionStore>, axum::Router, SessionKey) {
    let (store, _) = memory();
    let app = app_with(Arc::clone(&store), configure);
    let key = key_of(&send(&app, "/set", None).await);
    (store, app, key)
}

/// A read that found no session for its cookie: nothing to show, and the cookie deleted (default
/// `Path` and `SameSite`).
fn assert_forgotten(reply: &Reply) {
    assert_eq!(reply.body, "none");
    assert_deletion(reply, "/", Some(cookie::SameSite::Lax));
}

/// Sends each request in turn (path, session key) and checks the body it answers.
async fn assert_bodies(app: &axum::Router, requests: &[(&str, Option<&str>, &str)]) {
    for (path, key, expected) in requests {
        assert_eq!(send(app, path, *key).await.body, *expected, "{path}");
    }
}

async fn stored_user(store: &Arc<dyn SessionStore>, key: &SessionKey) -> Option<serde_json::Value> {
    store
        .load(key)
        .await
        .expect("load")
        .and_then(|loaded| loaded.data.get("user").cloned())
}

// ---- cookie attributes ----------------------------------------------------------------------------

#[tokio::test]
async fn a_new_session_gets_djangos_default_cookie() {
    let (store, _) = memory();
    let app = app(Arc::clone(&store));
    let reply = send(&app, "/set", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.cookies.len(), 1);
    let cookie = reply.session_cookie().expect("cookie");
    assert_eq!(cookie.value().len(), 32);
    assert!(cookie
        .value()
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.domain(), None);
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), None);
    assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax));
    assert_eq!(cookie.max_age(), Some(time::Duration::seconds(1_209_600)));
    let expires = cookie.expires_datetime().expect("Expires");
    let expected = time::OffsetDateTime::now_utc() + time::Duration::seconds(1_209_600);
    assert!(
        (expires - expected).abs() < time::Duration::seconds(5),
        "{expires}"
    );
    assert!(reply.varies_on_cookie());
    assert_eq!(stored_user(&store, &key_of(&reply)).await, Some(42.into()));
}

#[tokio::test]
async fn every_cookie_setting_shows_in_the_attributes() {
    let (store, _) = memory();
    let app = app_with(store, |layer| {
        layer
            .cookie_name("sid")
            .expect("a token")
            .cookie_age(Duration::from_secs(600))
            .path("/app")
            .expect("a path")
            .domain("example.com")
            .expect("a domain")
            .secure(true)
            .http_only(false)
            .same_site(SameSite::Strict)
    });
    let reply = send(&app, "/set", None).await;
    let cookie = reply.cookie("sid").expect("cookie named sid");
    assert_eq!(cookie.path(), Some("/app"));
    assert_eq!(cookie.domain(), Some("example.com"));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.http_only(), None, "HttpOnly off");
    assert_eq!(cookie.same_site(), Some(cookie::SameSite::Strict));
    assert_eq!(cookie.max_age(), Some(time::Duration::seconds(600)));
    // The renamed cookie is the one read back.
    let again = send_header(&app, "/read", Some(format!("sid={}", cookie.value()))).await;
    assert_eq!(again.body, "42");
}

#[tokio::test]
async fn samesite_none_adds_secure_and_omit_sends_no_attribute() {
    let (store, _) = memory();
    let none = app_with(Arc::clone(&store), |layer| layer.same_site(SameSite::None));
    let reply = send(&none, "/set", None).await;
    let cookie = reply.session_cookie().expect("cookie");
    assert_eq!(cookie.same_site(), Some(cookie::SameSite::None));
    assert_eq!(
        cookie.secure(),
        Some(true),
        "browsers require Secure with None"
    );

    let omit = app_with(store, |layer| layer.same_site(SameSite::Omit));
    let raw = send(&omit, "/set", None).await;
    let header = raw.response_headers["set-cookie"].to_str().expect("ascii");
    assert!(
        !header.to_ascii_lowercase().contains("samesite"),
        "{header}"
    );
}

#[tokio::test]
async fn browser_close_sessions_have_no_max_age_or_expires() {
    let (store, _) = memory();
    let app = app_with(store, |layer| layer.expire_at_browser_close(true));
    let reply = send(&app, "/set", None).await;
    let cookie = reply.session_cookie().expect("cookie");
    assert_eq!(cookie.max_age(), None);
    assert_eq!(cookie.expires(), None);
}

#[tokio::test]
async fn set_expiry_drives_max_age_and_persists() {
    let (store, _) = memory();
    let app = app(store);
    let first = send(&app, "/set", None).await;
    let key = key_of(&first);

    let idle = send(&app, "/expiry/idle", Some(key.as_str())).await;
    let cookie = idle.session_cookie().expect("cookie");
    assert_eq!(cookie.max_age(), Some(time::Duration::seconds(60)));
    // Kept for the next requests: a later save still sends 60 s.
    let later = send(&app, "/set", Some(key.as_str())).await;
    assert_eq!(
        later.session_cookie().and_then(|c| c.max_age()),
        Some(time::Duration::seconds(60))
    );
    let age = send(&app, "/flags/expiry-age", Some(key.as_str())).await;
    assert_eq!(age.body, "true false 60 false");

    let close = send(&app, "/expiry/close", Some(key.as_str())).await;
    let cookie = close.session_cookie().expect("cookie");
    assert_eq!(cookie.max_age(), None);
    assert_eq!(cookie.expires(), None);
    let age = send(&app, "/flags/expiry-age", Some(key.as_str())).await;
    assert_eq!(age.body, "true false 1209600 true");

    let at = send(&app, "/expiry/at", Some(key.as_str())).await;
    let max_age = at
        .session_cookie()
        .and_then(|c| c.max_age())
        .expect("Max-Age")
        .whole_seconds();
    assert!((3595..=3600).contains(&max_age), "{max_age}");

    // Back to the default: modified because a custom expiry existed.
    let inherit = send(&app, "/expiry/inherit", Some(key.as_str())).await;
    assert_eq!(inherit.body, "true true");
    assert_eq!(
        inherit.session_cookie().and_then(|c| c.max_age()),
        Some(time::Duration::seconds(1_209_600))
    );
    let again = send(&app, "/expiry/inherit", Some(key.as_str())).await;
    assert_eq!(again.body, "true false", "nothing to remove: not modified");
}

// ---- when to save, when to send, Vary ----------------------------------------------------------------

#[tokio::test]
async fn an_untouched_session_costs_nothing_and_changes_nothing() {
    let (inner, _) = memory();
    let counting = Arc::new(Counting::new(inner));
    let app = app(counting.clone());
    let created = send(&app, "/set", None).await;
    let key = key_of(&created);
    let calls = counting.calls();
    for cookie in [None, Some(key.as_str())] {
        let reply = send(&app, "/untouched", cookie).await;
        assert!(reply.cookies.is_empty());
        assert!(reply.vary.is_empty(), "{:?}", reply.vary);
    }
    assert_eq!(counting.calls(), calls, "no store access without use");
}

#[tokio::test]
async fn a_read_only_access_varies_on_cookie_without_saving() {
    let (inner, _) = memory();
    let counting = Arc::new(Counting::new(inner));
    let app = app(counting.clone());
    let key = key_of(&send(&app, "/set", None).await);
    let calls = counting.calls();
    let reply = send(&app, "/read", Some(key.as_str())).await;
    assert_eq!(reply.body, "42");
    assert!(reply.cookies.is_empty(), "not modified: no cookie");
    assert!(reply.varies_on_cookie());
    assert_eq!(counting.calls(), calls + 1, "one load, no save");
    // A read of a new session (no cookie) varies too, and creates nothing.
    let anonymous = send(&app, "/read", None).await;
    assert_eq!(anonymous.body, "none");
    assert!(anonymous.cookies.is_empty());
    assert!(anonymous.varies_on_cookie());
}

#[tokio::test]
async fn vary_is_merged_with_the_handlers_vary() {
    let (store, _) = memory();
    let app = app(store);
    let reply = send(&app, "/vary", None).await;
    let all: Vec<&str> = reply
        .vary
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    assert!(all.contains(&"Accept-Encoding"), "{all:?}");
    assert!(
        all.iter().any(|v| v.eq_ignore_ascii_case("cookie")),
        "{all:?}"
    );
}

#[tokio::test]
async fn no_save_and_no_cookie_on_a_server_error() {
    let (store, _) = memory();
    let app = app(Arc::clone(&store));
    let reply = send(&app, "/fail", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.cookies.is_empty(), "no cookie on 5xx");
    // An existing session is not saved either.
    let key = key_of(&send(&app, "/set", None).await);
    let failed = send(&app, "/fail", Some(key.as_str())).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(failed.cookies.is_empty());
    assert_eq!(
        stored_user(&store, &key).await,
        Some(42.into()),
        "500's write not saved"
    );
}

#[tokio::test]
async fn save_every_request_resends_the_cookie() {
    let (_, app, key) = with_session(|layer| layer.save_every_request(true)).await;
    for path in ["/read", "/untouched"] {
        let reply = send(&app, path, Some(key.as_str())).await;
        let cookie = reply.session_cookie().expect("re-sent on every request");
        assert_eq!(cookie.value(), key.as_str());
        assert!(reply.varies_on_cookie());
    }
    // Nothing to save without a session.
    assert!(send(&app, "/untouched", None).await.cookies.is_empty());
}

// ---- ending sessions -----------------------------------------------------------------------------

fn assert_deletion(reply: &Reply, path: &str, same_site: Option<cookie::SameSite>) {
    let cookie = reply.session_cookie().expect("a deletion cookie");
    assert_eq!(cookie.value(), "");
    assert_eq!(cookie.max_age(), Some(time::Duration::ZERO));
    assert_eq!(
        cookie.expires_datetime().map(|d| d.unix_timestamp()),
        Some(0),
        "expires in 1970"
    );
    assert_eq!(cookie.path(), Some(path));
    assert_eq!(cookie.same_site(), same_site);
    assert!(reply.varies_on_cookie());
}

#[tokio::test]
async fn flush_deletes_the_record_and_the_cookie() {
    let (store, _) = memory();
    let app = app_with(Arc::clone(&store), |layer| {
        layer
            .path("/")
            .expect("a path")
            .domain("example.com")
            .expect("a domain")
            .same_site(SameSite::Strict)
    });
    let key = key_of(&send(&app, "/set", None).await);
    let reply = send(&app, "/flush", Some(key.as_str())).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_deletion(&reply, "/", Some(cookie::SameSite::Strict));
    assert_eq!(
        reply.session_cookie().and_then(|c| c.domain()),
        Some("example.com")
    );
    assert!(!store.exists(&key).await.expect("exists"));
    assert_eq!(send(&app, "/read", Some(key.as_str())).await.body, "none");
}

#[tokio::test]
async fn cycle_key_moves_the_data_and_invalidates_the_old_key() {
    let (store, app, old) = with_session(|layer| layer).await;
    let reply = send(&app, "/cycle", Some(old.as_str())).await;
    let new = key_of(&reply);
    assert_ne!(new, old);
    assert!(
        !store.exists(&old).await.expect("exists"),
        "old record deleted"
    );
    assert_eq!(send(&app, "/read", Some(new.as_str())).await.body, "42");
    let stale = send(&app, "/read", Some(old.as_str())).await;
    assert_forgotten(&stale);
}

#[tokio::test]
async fn clear_keeps_the_key_and_saves_an_empty_session() {
    let (store, app, key) = with_session(|layer| layer).await;
    let reply = send(&app, "/clear", Some(key.as_str())).await;
    let cookie = reply.session_cookie().expect("re-sent");
    assert_eq!(
        cookie.value(),
        key.as_str(),
        "same key: not empty, saved as {{}}"
    );
    let loaded = store.load(&key).await.expect("load").expect("still there");
    assert!(loaded.data.is_empty());
}

#[tokio::test]
async fn a_forged_or_unknown_key_gets_a_fresh_session() {
    let (store, _) = memory();
    let app = app(Arc::clone(&store));
    let forged = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let reply = send(&app, "/set", Some(forged)).await;
    let key = key_of(&reply);
    assert_ne!(key.as_str(), forged, "never stored under the client's key");
    let forged_key = SessionKey::parse(forged).expect("well formed");
    assert!(!store.exists(&forged_key).await.expect("exists"));
    // Read-only with an unknown key: the cookie is deleted.
    let read = send(&app, "/read", Some(forged)).await;
    assert_forgotten(&read);
}

#[tokio::test]
async fn a_short_or_malformed_key_is_never_looked_up_and_is_deleted() {
    let (inner, _) = memory();
    let counting = Arc::new(Counting::new(inner));
    let app = app(counting.clone());
    for bad in ["short", "", "../../../../etc/passwd", "ABCDEFGHIJKLMNOP"] {
        let reply = send(&app, "/untouched", Some(bad)).await;
        assert_deletion(&reply, "/", Some(cookie::SameSite::Lax));
        let set = send(&app, "/set", Some(bad)).await;
        let key = key_of(&set);
        assert_ne!(key.as_str(), bad);
        assert_eq!(key.as_str().len(), 32);
    }
    assert_eq!(
        counting.calls(),
        4,
        "only the four creates: malformed keys are never loaded"
    );
}

#[tokio::test]
async fn an_expired_session_is_gone() {
    let (_, app, key) = with_session(|layer| layer.cookie_age(Duration::from_secs(1))).await;
    assert_eq!(send(&app, "/read", Some(key.as_str())).await.body, "42");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let reply = send(&app, "/read", Some(key.as_str())).await;
    assert_forgotten(&reply);
}

#[tokio::test]
async fn a_session_deleted_by_a_concurrent_request_is_a_400() {
    let (store, app, key) = with_session(|layer| layer).await;
    let reply = send(&app, "/race", Some(key.as_str())).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply
            .body
            .contains("session was deleted before the request completed"),
        "{}",
        reply.body
    );
    assert!(reply.cookies.is_empty());
    assert!(
        !store.exists(&key).await.expect("exists"),
        "not resurrected"
    );
}

#[tokio::test]
async fn the_400_also_happens_on_sqlite() {
    let store = support::sqlite_memory().await;
    let store: Arc<dyn SessionStore> = Arc::new(store);
    let app = app(Arc::clone(&store));
    let key = key_of(&send(&app, "/set", None).await);
    let reply = send(&app, "/race", Some(key.as_str())).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

// ---- flags -----------------------------------------------------------------------------------------

#[tokio::test]
async fn accessed_and_modified_follow_django() {
    let (_, app, key) = with_session(|layer| layer).await;
    let k = Some(key.as_str());
    assert_bodies(
        &app,
        &[
            ("/flags/get", k, "true false"),
            ("/flags/contains", k, "true false true"),
            ("/flags/pop-missing", k, "true false"),
            ("/flags/remove-missing", k, "true false"),
            ("/flags/empty", k, "false false false"),
            ("/flags/empty", None, "false false true"),
            ("/flags/reserved", k, "false false true"),
        ],
    )
    .await;
    assert_eq!(send(&app, "/flags/pop", k).await.body, "true true Some(42)");
    assert_eq!(send(&app, "/keys", k).await.body, "", "popped");
}

#[tokio::test]
async fn setdefault_update_items_values_and_the_test_cookie_follow_django() {
    let (_, app, key) = with_session(|layer| layer).await;
    let k = Some(key.as_str());
    // A custom expiry first: items and values must hide its reserved entry.
    send(&app, "/expiry/idle", k).await;
    assert_bodies(
        &app,
        &[
            // setdefault modifies only when it inserts; update always does, even with nothing in it.
            ("/flags/setdefault-present", k, "true false 42"),
            ("/flags/setdefault-missing", k, "true true dark"),
            ("/flags/update-empty", k, "true true"),
            ("/update", k, "true"),
            // What setdefault and update stored was saved; no expiry entry among the items.
            ("/items", k, "a=1,b=2,theme=\"dark\",user=42 4"),
            // The test cookie: stored (a modification), found on the next request, then deleted.
            ("/test-cookie/set", k, "true true"),
            ("/test-cookie/check", k, "true false"),
            ("/test-cookie/check", k, "false false"),
        ],
    )
    .await;
}

#[tokio::test]
async fn keys_hide_the_reserved_expiry_key() {
    let (_, app, key) = with_session(|layer| layer).await;
    send(&app, "/expiry/idle", Some(key.as_str())).await;
    assert_eq!(send(&app, "/keys", Some(key.as_str())).await.body, "user");
}

// ---- failures --------------------------------------------------------------------------------------

#[tokio::test]
async fn a_store_failure_is_a_500_by_default_and_configurable() {
    let (logs, _capture) = test_logs::capture_logs();
    let default = app(Arc::new(Failing));
    let reply = send(&default, "/set", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.cookies.is_empty());
    assert!(
        !reply.body.contains("connection refused"),
        "no details to the client"
    );
    // … but the details are in the error event.
    let events = logs.lines_with(&["ERROR", "session store failed", "connection refused"]);
    assert_eq!(events.len(), 1, "logs:\n{}", logs.text());

    let custom = app_with(Arc::new(Failing), |layer| layer.error_response(unavailable));
    // Failing while saving (create) …
    let reply = send(&custom, "/set", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.body.contains("connection refused"), "{}", reply.body);
    // … and while loading in the handler (`?` on a SessionError).
    let reply = send(&custom, "/read", Some("abcdefghijklmnop")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.body.contains("connection refused"), "{}", reply.body);
}

#[tokio::test]
async fn corrupted_data_is_an_empty_session_not_an_error() {
    let (logs, _capture) = test_logs::capture_logs();
    let (store, cache) = memory();
    let app = app(Arc::clone(&store));
    let key = key_of(&send(&app, "/set", None).await);
    let made = cache.make_key(&format!("tower_sessions_kit.cache:{}", key.as_str()), None);
    cache
        .raw()
        .set(
            &made,
            bytes::Bytes::from_static(b"\x80\x04garbage{"),
            cache_core::Expiry::Never,
        )
        .await
        .expect("corrupt it");
    let reply = send(&app, "/read", Some(key.as_str())).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "none");
    let warnings = logs.lines_with(&["WARN", "session data corrupted: using an empty session"]);
    assert_eq!(warnings.len(), 1, "logs:\n{}", logs.text());
    let write = send(&app, "/set", Some(key.as_str())).await;
    assert_eq!(write.status, StatusCode::OK);
    assert_eq!(stored_user(&store, &key).await, Some(42.into()));
}

#[tokio::test]
async fn a_missing_layer_is_a_500_not_a_panic() {
    let router = routes(Arc::new(Failing));
    let reply = send(&router, "/read", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
}

// ---- signed cookies --------------------------------------------------------------------------------

#[tokio::test]
async fn signed_cookie_sessions_round_trip_and_tampering_is_rejected() {
    let store: Arc<dyn SessionStore> = Arc::new(SignedCookieStore::new(Key::generate()));
    let app = app(store);
    let reply = send(&app, "/set", None).await;
    let value = reply.session_cookie().expect("cookie").value().to_owned();
    assert_eq!(send(&app, "/read", Some(&value)).await.body, "42");

    // Flip one character of the signed data.
    let mut tampered: Vec<char> = value.chars().collect();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let reply = send(&app, "/read", Some(&tampered)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_forgotten(&reply);

    // A cookie signed by someone else's key is rejected too.
    let other = support::app(Arc::new(SignedCookieStore::new(Key::generate())));
    assert_eq!(send(&other, "/read", Some(&value)).await.body, "none");
}

#[tokio::test]
async fn encrypted_cookies_hide_the_data() {
    let store: Arc<dyn SessionStore> =
        Arc::new(SignedCookieStore::new(Key::generate()).encrypted(true));
    let app = app(store);
    let reply = send(&app, "/set", None).await;
    let value = reply.session_cookie().expect("cookie").value().to_owned();
    assert_eq!(send(&app, "/read", Some(&value)).await.body, "42");
    use base64::Engine;
    for engine in [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ] {
        if let Ok(bytes) = engine.decode(&value) {
            assert!(!String::from_utf8_lossy(&bytes).contains("user"));
        }
    }
}

#[tokio::test]
async fn rotated_keys_verify_and_reissue_with_the_new_key() {
    let old = Key::generate();
    let new = Key::generate();
    let before = app(Arc::new(SignedCookieStore::new(old.clone())));
    let value = send(&before, "/set", None)
        .await
        .session_cookie()
        .expect("cookie")
        .value()
        .to_owned();

    let rotated = app(Arc::new(
        SignedCookieStore::new(new.clone()).fallback_keys([old]),
    ));
    let reply = send(&rotated, "/read", Some(&value)).await;
    assert_eq!(reply.body, "42", "the old key still verifies");
    let reissued = reply
        .session_cookie()
        .expect("re-issued on a read")
        .value()
        .to_owned();
    assert_ne!(reissued, value);
    let only_new = app(Arc::new(SignedCookieStore::new(new)));
    assert_eq!(send(&only_new, "/read", Some(&reissued)).await.body, "42");
    assert_eq!(send(&only_new, "/read", Some(&value)).await.body, "none");
}

#[tokio::test]
async fn an_oversized_signed_session_is_a_clear_error_not_a_broken_cookie() {
    let store: Arc<dyn SessionStore> = Arc::new(SignedCookieStore::new(Key::generate()));
    let app = app_with(store, |layer| layer.error_response(unavailable));
    let reply = send(&app, "/set-big", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.cookies.is_empty(), "no oversized cookie sent");
    assert!(reply.body.contains("limit of 3800 bytes"), "{}", reply.body);
}

#[tokio::test]
async fn signed_cookies_expire_with_the_session() {
    let store: Arc<dyn SessionStore> = Arc::new(SignedCookieStore::new(Key::generate()));
    let app = app_with(store, |layer| layer.cookie_age(Duration::from_secs(1)));
    let value = send(&app, "/set", None)
        .await
        .session_cookie()
        .expect("cookie")
        .value()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(send(&app, "/read", Some(&value)).await.body, "none");
}

// ---- settings edge cases and cleanup ---------------------------------------------------------------

#[tokio::test]
async fn an_absurd_cookie_age_is_clamped_not_a_panic() {
    let (store, _) = memory();
    let app = app_with(store, |layer| layer.cookie_age(Duration::MAX));
    let reply = send(&app, "/set", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let cookie = reply.session_cookie().expect("cookie");
    assert!(cookie.expires_datetime().is_some_and(|d| d.year() == 9999));
}

#[tokio::test]
async fn invalid_settings_are_refused_rather_than_producing_broken_headers() {
    let (store, _) = memory();
    let layer = SessionLayer::from_arc(store);
    assert_eq!(
        layer.clone().cookie_name("bad name;").err(),
        Some(InvalidSetting::CookieName("bad name;".into()))
    );
    assert_eq!(
        layer.clone().path("/a;b").err(),
        Some(InvalidSetting::CookiePath("/a;b".into()))
    );
    assert_eq!(
        layer.domain("x.com; Secure").err(),
        Some(InvalidSetting::CookieDomain("x.com; Secure".into()))
    );
}

#[tokio::test]
async fn the_cleanup_task_removes_expired_records() {
    let store = support::sqlite_memory().await;
    let store: Arc<dyn SessionStore> = Arc::new(store);
    let live = store
        .create(&Default::default(), Duration::from_secs(3600))
        .await
        .expect("create");
    let dying = store
        .create(&Default::default(), Duration::from_millis(1))
        .await
        .expect("create");
    let cleanup = tower_sessions_kit::spawn_cleanup(Arc::clone(&store), Duration::from_millis(50));
    tokio::time::sleep(Duration::from_millis(300)).await;
    cleanup.abort();
    assert!(
        !store.exists(&dying).await.expect("exists"),
        "expired row deleted"
    );
    assert!(store.exists(&live).await.expect("exists"), "live row kept");
}

#[tokio::test]
async fn the_cleanup_task_stops_on_stores_without_clear_expired() {
    let store: Arc<dyn SessionStore> = Arc::new(SignedCookieStore::new(Key::generate()));
    let cleanup = tower_sessions_kit::spawn_cleanup(store, Duration::from_millis(10));
    let finished = tokio::time::timeout(Duration::from_secs(2), cleanup).await;
    assert!(matches!(finished, Ok(Ok(()))), "{finished:?}");
}
