//! Hostile input to the `django` module and the Django-format signed-cookie store: whatever a client
//! sends — tampered, truncated, for another salt, huge, garbage, a zip bomb — is an error (or an empty
//! session), never a panic and never an unbounded allocation.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::{json, Value};
use tower_sessions_kit::django::{Django, SigningError};
use tower_sessions_kit::store::SignedCookieStore;
use tower_sessions_kit::{SessionKey, SessionStore};

const SALT: &str = "django.contrib.sessions.backends.signed_cookies";

fn django() -> Django {
    Django::new("hostile-input-secret").expect("valid key")
}

fn sample() -> Value {
    json!({"_auth_user_id": "7", "cart": [1, 2, 3], "name": "Zoë", "blob": "x".repeat(200)})
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// What the Django-format store makes of `value` as a session cookie: it must never be an error.
fn store_load(store: &SignedCookieStore, value: &str) -> bool {
    let Some(key) = SessionKey::from_cookie_value(value) else {
        return false;
    };
    runtime()
        .block_on(store.load(&key))
        .expect("a hostile cookie is an empty session, not a store error")
        .is_some()
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        let django = django();
        let _ = django.loads(&text, SALT, Some(Duration::from_secs(60)));
        let _ = django.session_codec().decode(&text);
        let _ = django.signer("").unsign_object(&text);
    }

    #[test]
    fn django_shaped_garbage_never_panics(
        payload in "[.]?[A-Za-z0-9_=-]{0,200}",
        timestamp in "-?[0-9A-Za-z]{0,14}",
        signature in "[A-Za-z0-9_-]{0,50}",
    ) {
        let value = format!("{payload}:{timestamp}:{signature}");
        prop_assert_eq!(
            django().loads(&value, SALT, None).err(),
            Some(SigningError::BadSignature)
        );
    }

    #[test]
    fn correctly_signed_garbage_is_an_error_not_a_panic(
        payload in "[.]?[A-Za-z0-9_=-]{0,400}",
        timestamp in "-?[0-9A-Za-z]{0,14}",
    ) {
        // Only a holder of the key can produce these; they must still fail cleanly.
        let signer = django().signer(SALT);
        let signed = signer.sign(&format!("{payload}:{timestamp}"));
        let _ = django().loads(&signed, SALT, Some(Duration::from_secs(60)));
    }

    #[test]
    fn any_change_to_a_signed_value_is_refused(index in 0_usize..400, byte in 0x21_u8..0x7f) {
        let signed = django().dumps(&sample(), SALT, true);
        let index = index % signed.len();
        prop_assume!(signed.as_bytes()[index] != byte);
        let mut tampered = signed.clone().into_bytes();
        tampered[index] = byte;
        let tampered = String::from_utf8(tampered).expect("ASCII");
        prop_assert!(django().loads(&tampered, SALT, None).is_err(), "{tampered}");
    }

    #[test]
    fn truncation_is_refused(cut in 0_usize..400) {
        let signed = django().dumps(&sample(), SALT, true);
        let cut = cut % signed.len();
        prop_assert!(django().loads(&signed[..cut], SALT, None).is_err());
    }

    #[test]
    fn the_store_turns_any_cookie_into_an_empty_session(value in r"[!#-+\x2D-:<-\[\]-~]{1,300}") {
        let store = SignedCookieStore::django(&django());
        prop_assert!(!store_load(&store, &value));
    }
}

#[test]
fn another_salt_or_key_is_a_bad_signature() {
    let signed = django().dumps(&sample(), SALT, true);
    assert!(django().loads(&signed, SALT, None).is_ok());
    assert_eq!(
        django()
            .loads(&signed, "django.contrib.sessions.SessionStore", None)
            .err(),
        Some(SigningError::BadSignature)
    );
    assert_eq!(
        Django::new("another key")
            .expect("valid key")
            .loads(&signed, SALT, None)
            .err(),
        Some(SigningError::BadSignature)
    );
}

#[test]
fn huge_garbage_is_refused_cheaply() {
    let huge = format!("{}:1r31eq:{}", "A".repeat(10 * 1024 * 1024), "B".repeat(43));
    assert_eq!(
        django().loads(&huge, SALT, None).err(),
        Some(SigningError::BadSignature)
    );
    let huge_signature = format!("payload:1r31eq:{}", "B".repeat(10 * 1024 * 1024));
    assert_eq!(
        django().loads(&huge_signature, SALT, None).err(),
        Some(SigningError::BadSignature)
    );
    // Correctly signed base64 that is not JSON.
    let signed = django()
        .timestamp_signer(SALT)
        .sign(&"QUFB".repeat(100_000));
    assert!(matches!(
        django().loads(&signed, SALT, None),
        Err(SigningError::Json(_))
    ));
}

#[test]
fn a_zip_bomb_stops_at_the_limit() {
    // 64 MiB of zeros compresses to about 64 KiB; only a key holder can sign it, but it must not inflate.
    let bomb = json!("0".repeat(64 * 1024 * 1024));
    let signed = django().dumps(&bomb, SALT, true);
    assert!(signed.starts_with('.') && signed.len() < 200 * 1024);
    assert_eq!(
        django().loads(&signed, SALT, None).err(),
        Some(SigningError::TooLarge {
            limit: tower_sessions_kit::django::DEFAULT_MAX_DECOMPRESSED_SIZE
        })
    );
    // A cookie-sized bomb against a store with a small cap.
    let settings = django().max_decompressed_size(64 * 1024);
    let cookie_bomb = settings.signed_cookies_codec().encode(
        json!({"x": "0".repeat(2 * 1024 * 1024)})
            .as_object()
            .expect("object"),
    );
    assert!(cookie_bomb.len() < SessionKey::MAX_COOKIE_VALUE_LENGTH);
    assert!(!store_load(
        &SignedCookieStore::django(&settings),
        &cookie_bomb
    ));
}

#[test]
fn an_expired_or_future_cookie() {
    let settings = django().session_cookie_age(Duration::from_secs(60));
    let codec = settings.signed_cookies_codec();
    let data = sample().as_object().cloned().expect("object");
    let store = SignedCookieStore::django(&settings);
    let old = codec.encode_at(&data, SystemTime::now() - Duration::from_secs(120));
    assert!(!store_load(&store, &old), "older than the cookie age");
    let fresh = codec.encode(&data);
    assert!(store_load(&store, &fresh));
}
