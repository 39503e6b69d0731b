//! The `django` module against vectors Django 5.2 produced (`tests/django/make_vectors.py` at the
//! workspace root wrote `fixtures/django_vectors.json`): the same input signed at the same second must be
//! the identical string, and every vector must decode to what Django encoded.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use tower_sessions_kit::django::json::{self, JsonErrorKind};
use tower_sessions_kit::django::{
    Django, SigningError, DEFAULT_SESSION_KEY_SALT, SIGNED_COOKIES_SALT,
};
use tower_sessions_kit::record::Data;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/django_vectors.json")).expect("fixture is JSON")
}

fn text<'a>(vector: &'a Value, field: &str) -> &'a str {
    vector[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {vector}"))
}

fn list<'a>(fixture: &'a Value, field: &str) -> &'a [Value] {
    fixture[field]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no {field} vectors"))
}

fn at(seconds: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds)
}

fn django(fixture: &Value) -> Django {
    Django::new(text(fixture, "secret")).expect("valid key")
}

fn data(json_text: &str) -> Data {
    match json::from_slice(json_text.as_bytes()) {
        Ok(Value::Object(data)) => data,
        other => panic!("{json_text} is not an object: {other:?}"),
    }
}

#[test]
fn the_session_key_salt_is_every_engines() {
    let fixture = fixture();
    assert!(text(&fixture, "django_version").starts_with("5.2"));
    let salts = fixture["key_salts"].as_object().expect("key_salts");
    assert_eq!(salts.len(), 5);
    for (engine, salt) in salts {
        assert_eq!(salt.as_str(), Some(DEFAULT_SESSION_KEY_SALT), "{engine}");
    }
    let django = django(&fixture);
    assert_eq!(django.session_codec().salt(), DEFAULT_SESSION_KEY_SALT);
    assert_eq!(django.signed_cookies_codec().salt(), SIGNED_COOKIES_SALT);
}

#[test]
fn floats_are_written_as_python_writes_them() {
    for vector in list(&fixture(), "floats") {
        let bits = vector["bits"].as_u64().expect("bits");
        let value = f64::from_bits(bits);
        assert_eq!(json::float_repr(value), text(vector, "repr"), "{value:?}");
    }
}

#[test]
fn signer_vectors() {
    for vector in list(&fixture(), "signer") {
        let django = Django::new(text(vector, "secret")).expect("valid key");
        let signer = django.signer(text(vector, "salt"));
        let signed = text(vector, "signed");
        assert_eq!(signer.sign(text(vector, "value")), signed);
        let verified = signer.unsign(signed).expect("verifies");
        assert_eq!(verified.value, text(vector, "value"));
        assert!(!verified.fallback);
    }
}

#[test]
fn timestamp_signer_vectors() {
    for vector in list(&fixture(), "timestamp_signer") {
        let django = Django::new(text(vector, "secret")).expect("valid key");
        let signer = django.timestamp_signer(text(vector, "salt"));
        let timestamp = vector["timestamp"].as_i64().expect("timestamp");
        let signed = text(vector, "signed");
        assert_eq!(
            signer.sign_at(text(vector, "value"), at(timestamp as f64)),
            signed
        );
        let verified = signer.unsign(signed, None).expect("verifies");
        assert_eq!(verified.value, text(vector, "value"));
        assert_eq!(verified.timestamp, timestamp);
    }
}

#[test]
fn dumps_vectors_are_reproduced_and_loaded() {
    let fixture = fixture();
    let django = django(&fixture);
    let timestamp = fixture["timestamp"].as_i64().expect("timestamp");
    let dumps = list(&fixture, "dumps");
    assert!(dumps.iter().any(|vector| vector["compressed"] == true));
    for vector in dumps {
        let name = text(vector, "name");
        let json_text = text(vector, "json");
        let value = json::from_slice(json_text.as_bytes()).expect("Django's JSON reads");
        assert_eq!(json::to_string(&value), json_text, "{name}: JSON");

        let salt = text(vector, "salt");
        let compress = vector["compress"] == true;
        let signed = text(vector, "signed");
        let ours = django.timestamp_signer(salt).sign_object_at(
            &value,
            compress,
            at(timestamp as f64 + 0.75),
        );
        assert_eq!(ours, signed, "{name} salt={salt} compress={compress}");
        assert_eq!(signed.starts_with('.'), vector["compressed"] == true);

        let loaded = django.loads(signed, salt, None).expect("loads");
        assert_eq!(loaded.value, value, "{name}");
        assert_eq!(loaded.timestamp, timestamp);
        assert!(!loaded.fallback);
    }
}

#[test]
fn session_vectors_are_reproduced_and_decoded() {
    let fixture = fixture();
    let django = django(&fixture);
    let signed_at = at(fixture["timestamp"].as_f64().expect("timestamp"));
    let later = signed_at + Duration::from_secs(60);
    let (codec, cookies) = (django.session_codec(), django.signed_cookies_codec());
    for vector in list(&fixture, "sessions") {
        let name = text(vector, "name");
        let data = data(text(vector, "json"));
        assert_eq!(
            codec.encode_at(&data, signed_at),
            text(vector, "encoded"),
            "{name}"
        );
        assert_eq!(
            cookies.encode_at(&data, signed_at),
            text(vector, "signed_cookie"),
            "{name}"
        );
        let decoded = codec
            .decode_strict_at(text(vector, "encoded"), later)
            .expect("decodes");
        assert_eq!(decoded.value, data, "{name}");
        assert_eq!(codec.decode(text(vector, "encoded")), data, "{name}");
        let decoded = cookies
            .decode_strict_at(text(vector, "signed_cookie"), later)
            .expect("decodes");
        assert_eq!(decoded.value, data, "{name}");
        // The two salts keep the formats apart.
        assert_eq!(
            codec
                .decode_strict_at(text(vector, "signed_cookie"), later)
                .err(),
            Some(SigningError::BadSignature)
        );
    }
}

#[test]
fn fallback_keys_verify_and_say_so() {
    let fixture = fixture();
    let rotated = django(&fixture)
        .secret_key_fallbacks([text(&fixture, "old_secret")])
        .expect("valid keys");
    let current_only = django(&fixture);
    let later = at(fixture["timestamp"].as_f64().expect("timestamp") + 60.0);
    for vector in list(&fixture, "fallback") {
        let data = data(text(vector, "json"));
        for (codec, encoded) in [
            (rotated.session_codec(), text(vector, "encoded")),
            (
                rotated.signed_cookies_codec(),
                text(vector, "signed_cookie"),
            ),
        ] {
            let decoded = codec
                .decode_strict_at(encoded, later)
                .expect("a fallback verifies");
            assert_eq!(decoded.value, data);
            assert!(decoded.fallback);
        }
        assert_eq!(
            current_only
                .session_codec()
                .decode_strict_at(text(vector, "encoded"), later)
                .err(),
            Some(SigningError::BadSignature)
        );
        let (logs, _capture) = test_logs::capture_logs();
        assert!(current_only
            .session_codec()
            .decode(text(vector, "encoded"))
            .is_empty());
        assert_eq!(
            logs.lines_with(&["WARN", "Session data corrupted"]).len(),
            1
        );
    }
}

#[test]
fn max_age_is_checked_as_django_checks_it() {
    let fixture = fixture();
    let signer = django(&fixture).timestamp_signer("django.core.signing");
    for vector in list(&fixture, "expiry") {
        let now = at(vector["now"].as_f64().expect("now"));
        let max_age = Duration::from_secs(vector["max_age"].as_u64().expect("max_age"));
        let outcome = signer.unsign_object_at(text(vector, "signed"), Some(max_age), now);
        match text(vector, "outcome") {
            "ok" => assert!(outcome.is_ok(), "{vector}: {outcome:?}"),
            _ => assert!(
                matches!(outcome, Err(SigningError::Expired { max_age: limit, .. }) if limit == max_age),
                "{vector}: {outcome:?}"
            ),
        }
    }
}

#[test]
fn values_a_serde_value_cannot_hold_are_errors_not_changes() {
    let fixture = fixture();
    let django = django(&fixture);
    for vector in list(&fixture, "unrepresentable") {
        match django.loads(text(vector, "signed"), "django.core.signing", None) {
            Err(SigningError::Json(error)) => assert!(
                matches!(error.kind, JsonErrorKind::Unrepresentable(_)),
                "{error}"
            ),
            other => panic!("{}: {other:?}", text(vector, "name")),
        }
    }
}

#[test]
fn dicts_in_any_key_order_decode() {
    let fixture = fixture();
    let django = django(&fixture);
    for vector in list(&fixture, "unsorted") {
        let expected: Value = serde_json::from_str(text(vector, "json")).expect("JSON");
        let loaded = django
            .loads(text(vector, "signed"), "django.core.signing", None)
            .expect("loads");
        assert_eq!(loaded.value, expected, "{}", text(vector, "name"));
    }
}
