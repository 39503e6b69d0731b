//! Bad input: 10 000 random `Cookie` headers (seeded, so a failure reproduces) through the layer on the
//! memory cache store and the signed-cookie store: no panic, no 5xx, and nothing stored under a key the
//! client chose.

mod support;

use std::sync::Arc;

use axum::http::HeaderValue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tower_sessions_kit::store::SignedCookieStore;
use tower_sessions_kit::{Key, SessionStore};

const CASES: usize = 10_000;

/// A random header value: any byte a header may carry (visible ASCII, space, tab, obs-text), in shapes
/// that hit the parser's corners: bare values, `sessionid=` with junk, quoted, repeated, many pairs.
fn random_cookie_header(rng: &mut StdRng) -> HeaderValue {
    const SPECIAL: &[u8] = b"=;,\" \t\\/.%+-_~$abcdefghijklmnopqrstuvwxyz0123456789";
    let len = match rng.random_range(0..10) {
        0 => rng.random_range(0..8),
        1..=6 => rng.random_range(8..64),
        7 | 8 => rng.random_range(64..512),
        _ => rng.random_range(512..6000),
    };
    let mut junk = Vec::with_capacity(len);
    for _ in 0..len {
        let byte = match rng.random_range(0..4) {
            0 => SPECIAL[rng.random_range(0..SPECIAL.len())],
            1 => rng.random_range(0x80..=0xff_u8),
            _ => rng.random_range(0x20..=0x7e_u8),
        };
        junk.push(byte);
    }
    let mut value = Vec::new();
    match rng.random_range(0..5) {
        0 => value.extend_from_slice(&junk),
        1 => {
            value.extend_from_slice(b"sessionid=");
            value.extend_from_slice(&junk);
        }
        2 => {
            value.extend_from_slice(b"a=1; sessionid=\"");
            value.extend_from_slice(&junk);
            value.extend_from_slice(b"\"; sessionid=x");
        }
        3 => {
            value.extend_from_slice(&junk);
            value.extend_from_slice(b"; sessionid=");
            value.extend_from_slice(&junk);
        }
        _ => {
            // A well-formed-looking key made of random lowercase letters and digits.
            value.extend_from_slice(b"sessionid=");
            for _ in 0..rng.random_range(1..48) {
                let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
                value.push(alphabet[rng.random_range(0..alphabet.len())]);
            }
        }
    }
    HeaderValue::from_bytes(&value).unwrap_or_else(|_| HeaderValue::from_static("sessionid=x"))
}

async fn no_panic_no_5xx(store: Arc<dyn SessionStore>, seed: u64) {
    let app = support::app(Arc::clone(&store));
    let mut rng = StdRng::seed_from_u64(seed);
    let paths = ["/read", "/set", "/untouched", "/flush", "/cycle", "/clear"];
    for case in 0..CASES {
        let header = random_cookie_header(&mut rng);
        let path = paths[case % paths.len()];
        let reply = support::send_raw_cookie(&app, path, header.clone()).await;
        assert!(
            !reply.status.is_server_error(),
            "case {case}: {path} with Cookie {header:?} gave {}",
            reply.status
        );
        // A created session always gets a fresh 32-character key, never one from the header.
        if let Some(cookie) = reply.session_cookie() {
            if !cookie.value().is_empty() && store.name() != "signed_cookie" {
                assert_eq!(cookie.value().len(), 32, "case {case}");
                let sent = header.to_str().unwrap_or_default();
                assert!(
                    !sent.contains(cookie.value()),
                    "case {case}: client-chosen key"
                );
            }
        }
    }
}

#[tokio::test]
async fn random_cookies_on_the_memory_cache_store() {
    let (store, _) = support::memory_store();
    no_panic_no_5xx(Arc::new(store), 0x5e55_10a5).await;
}

#[tokio::test]
async fn random_cookies_on_the_signed_cookie_store() {
    let store = SignedCookieStore::new(Key::generate());
    no_panic_no_5xx(Arc::new(store), 0x0c00_c1e5).await;
}
