//! Django itself on the other side: values and sessions signed here are read by Django, and Django's are
//! read here, including key rotation and tampering. Django runs through `tests/django/helper.py` with the
//! Python of `TEST_DJANGO_PYTHON` (a virtualenv with `Django>=5.2,<5.3`: `bash .ci/install-django.sh`
//! makes one and `.ci/test-env.sh` exports its path); without it the tests print that they skipped,
//! except when `CI` or `TEST_REQUIRE_SERVERS` is set, where a missing Django is a failure.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{header, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;
use tower_sessions_kit::django::{json as django_json, Django, SigningError};
use tower_sessions_kit::store::SignedCookieStore;
use tower_sessions_kit::{Session, SessionLayer};

const SECRET: &str = "django-insecure-live-test-secret-key-0123456789";
const OLD_SECRET: &str = "the-key-this-project-used-before-rotation";
const SALT: &str = "live.test";

/// The Python to run Django with, or `None` (after saying so) when the tests should skip.
fn python() -> Option<String> {
    match std::env::var("TEST_DJANGO_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ if std::env::var_os("CI").is_some()
            || std::env::var_os("TEST_REQUIRE_SERVERS").is_some() =>
        {
            panic!(
                "TEST_DJANGO_PYTHON is not set: CI must run the Django interoperability tests \
                 (bash .ci/install-django.sh, then source .ci/test-env.sh)"
            )
        }
        _ => {
            eprintln!(
                "skipped: set TEST_DJANGO_PYTHON to a Python with Django 5.2 to run this test"
            );
            None
        }
    }
}

/// Runs `requests` through Django and returns its answers.
fn django(python: &str, requests: Vec<Value>) -> Vec<Value> {
    let helper = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/django/helper.py");
    let mut child = Command::new(python)
        .arg(helper)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Django helper");
    let input = serde_json::to_vec(&requests).expect("requests serialize");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write the requests");
    let output = child.wait_with_output().expect("the Django helper ends");
    assert!(
        output.status.success(),
        "the Django helper failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&output.stdout).expect("answers are JSON");
    assert_eq!(answers.len(), requests.len());
    answers
}

fn ours() -> Django {
    Django::new(SECRET).expect("valid key")
}

fn rotated() -> Django {
    ours()
        .secret_key_fallbacks([OLD_SECRET])
        .expect("valid keys")
}

/// Reads JSON Django wrote with our reader (it may hold what `serde_json` reads differently).
fn parse(text: &Value) -> Value {
    django_json::from_slice(text.as_str().expect("a JSON string").as_bytes())
        .expect("Django's JSON")
}

fn samples() -> Vec<Value> {
    vec![
        json!({}),
        json!({"_auth_user_id": "42", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend"}),
        json!({"name": "Zoë 東京 😀", "controls": "\u{0}\n\t\"\\/", "floats": [0.1, 1e16, 1e-05, -0.0, 100.0],
               "ints": [0, -1, i64::MIN, u64::MAX], "flags": [true, false, null]}),
        json!({"nested": {"cart": [{"sku": "A1", "qty": 2}, [1, [2, [3]]]]}, "empty": {"l": [], "d": {}}}),
        json!({"big": "compressible ".repeat(300)}),
    ]
}

fn tamper(signed: &str) -> String {
    // Change the first character of the payload (never the `.` compression mark).
    let index = usize::from(signed.starts_with('.'));
    let mut bytes = signed.as_bytes().to_vec();
    bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII")
}

#[test]
fn values_signed_here_are_read_by_django_and_back() {
    let Some(python) = python() else { return };
    let at = 1_700_000_000_u64;
    let mut requests = Vec::new();
    let mut signed_here = Vec::new();
    for value in samples() {
        for compress in [false, true] {
            let signed = ours().timestamp_signer(SALT).sign_object_at(
                &value,
                compress,
                SystemTime::UNIX_EPOCH + Duration::from_secs(at),
            );
            requests.push(json!({"op": "loads", "secret": SECRET, "salt": SALT, "signed": signed}));
            requests.push(
                json!({"op": "dumps", "secret": SECRET, "salt": SALT, "compress": compress,
                                 "json": django_json::to_string(&value), "time": at}),
            );
            signed_here.push((value.clone(), signed));
        }
    }
    let answers = django(&python, requests);
    for ((value, signed), pair) in signed_here.iter().zip(answers.chunks(2)) {
        assert_eq!(parse(&pair[0]["json"]), *value, "Django read {signed}");
        assert_eq!(
            pair[1]["signed"].as_str(),
            Some(signed.as_str()),
            "Django signs the identical string"
        );
        let loaded = ours()
            .loads(signed, SALT, None)
            .expect("ours loads Django's");
        assert_eq!(loaded.value, *value);
    }
}

#[test]
fn rotation_tampering_and_salts_both_ways() {
    let Some(python) = python() else { return };
    let value = json!({"user": "Ådne", "n": 7});
    let text = django_json::to_string(&value);
    let signed_old_here = Django::new(OLD_SECRET)
        .expect("valid key")
        .dumps(&value, SALT, true);
    let signed_here = ours().dumps(&value, SALT, true);
    let answers = django(
        &python,
        vec![
            json!({"op": "dumps", "secret": OLD_SECRET, "salt": SALT, "compress": false, "json": text}),
            json!({"op": "loads", "secret": SECRET, "fallbacks": [OLD_SECRET], "salt": SALT, "signed": signed_old_here}),
            json!({"op": "loads", "secret": SECRET, "salt": SALT, "signed": signed_old_here}),
            json!({"op": "loads", "secret": SECRET, "salt": SALT, "signed": tamper(&signed_here)}),
            json!({"op": "loads", "secret": SECRET, "salt": "another.salt", "signed": signed_here}),
            json!({"op": "dumps", "secret": SECRET, "salt": SALT, "compress": false, "json": text}),
            json!({"op": "loads", "secret": SECRET, "salt": SALT, "signed": signed_here, "max_age": 3600}),
        ],
    );
    // Django signed with the old key: a fallback verifies it here, and says so.
    let signed_old_there = answers[0]["signed"].as_str().expect("signed");
    let loaded = rotated()
        .loads(signed_old_there, SALT, None)
        .expect("a fallback verifies");
    assert_eq!(loaded.value, value);
    assert!(loaded.fallback);
    assert_eq!(
        ours().loads(signed_old_there, SALT, None).err(),
        Some(SigningError::BadSignature)
    );
    // Signed here with the old key: Django verifies it through its fallbacks only.
    assert_eq!(parse(&answers[1]["json"]), value);
    assert_eq!(answers[2]["error"], "BadSignature");
    // Tampered or another salt: Django refuses what we signed, we refuse what Django signed.
    assert_eq!(answers[3]["error"], "BadSignature");
    assert_eq!(answers[4]["error"], "BadSignature");
    let signed_there = answers[5]["signed"].as_str().expect("signed");
    assert_eq!(
        ours().loads(&tamper(signed_there), SALT, None).err(),
        Some(SigningError::BadSignature)
    );
    assert_eq!(
        ours().loads(signed_there, "another.salt", None).err(),
        Some(SigningError::BadSignature)
    );
    assert_eq!(
        parse(&answers[6]["json"]),
        value,
        "within max_age for Django"
    );
}

#[test]
fn session_data_round_trips_through_djangos_database_engine_format() {
    let Some(python) = python() else { return };
    let codec = ours().session_codec();
    let mut requests = Vec::new();
    for value in samples() {
        let data = value.as_object().cloned().expect("an object");
        requests.push(
            json!({"op": "session_decode", "secret": SECRET, "encoded": codec.encode(&data)}),
        );
        requests.push(json!({"op": "session_encode", "secret": SECRET, "json": django_json::to_string(&value)}));
    }
    requests.push(json!({"op": "session_decode", "secret": SECRET, "encoded": tamper(&codec.encode(&serde_json::Map::new()))}));
    let answers = django(&python, requests);
    for (value, pair) in samples().iter().zip(answers.chunks(2)) {
        assert_eq!(parse(&pair[0]["json"]), *value, "Django decodes ours");
        let encoded = pair[1]["encoded"].as_str().expect("encoded");
        assert_eq!(
            Value::Object(codec.decode(encoded)),
            *value,
            "we decode Django's"
        );
    }
    assert_eq!(
        answers.last().map(|answer| parse(&answer["json"])),
        Some(json!({}))
    );
}

// ---- the signed_cookies engine through a whole app ------------------------------------------------

async fn read(session: Session) -> String {
    let name: Option<String> = session.get("name").await.unwrap_or_default();
    let visits: Option<u64> = session.get("visits").await.unwrap_or_default();
    format!(
        "{}|{}",
        name.unwrap_or_default(),
        visits.unwrap_or_default()
    )
}

async fn write(session: Session) -> String {
    let visits: u64 = session.get("visits").await.unwrap_or_default().unwrap_or(0) + 1;
    let _ = session.insert("visits", &visits).await;
    let _ = session.insert("name", "Zoë from Rust").await;
    visits.to_string()
}

fn app(settings: Django) -> Router {
    Router::new()
        .route("/read", get(read))
        .route("/write", get(write))
        .layer(SessionLayer::new(SignedCookieStore::django(&settings)).secure(false))
}

/// The status, the body and the new `sessionid` value (if one was set) of a request with `cookie`.
async fn send(
    app: &Router,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut request = Request::builder().uri(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, format!("sessionid={cookie}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let set = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.strip_prefix("sessionid="))
        .map(|value| value.split(';').next().unwrap_or_default().to_owned())
        .next();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), set)
}

#[tokio::test]
async fn the_signed_cookies_engine_and_this_store_share_sessions() {
    let Some(python) = python() else { return };
    let made_by_django = django(
        &python,
        vec![
            json!({"op": "cookie_save", "secret": SECRET, "json": r#"{"name":"Zoë from Django","visits":41}"#}),
            json!({"op": "cookie_save", "secret": OLD_SECRET, "json": r#"{"name":"before rotation","visits":3}"#}),
        ],
    );
    let django_cookie = made_by_django[0]["cookie"]
        .as_str()
        .expect("cookie")
        .to_owned();
    let old_cookie = made_by_django[1]["cookie"]
        .as_str()
        .expect("cookie")
        .to_owned();

    // Django's cookie, read and updated here.
    let app = app(rotated());
    assert_eq!(
        send(&app, "/read", Some(&django_cookie)).await.1,
        "Zoë from Django|41"
    );
    let (status, body, ours_cookie) = send(&app, "/write", Some(&django_cookie)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "42"));
    let ours_cookie = ours_cookie.expect("a new cookie");

    // A cookie Django signed with the old key: read through the fallback and re-signed with the current
    // key even though the request changed nothing.
    let (_, body, reissued) = send(&app, "/read", Some(&old_cookie)).await;
    assert_eq!(body, "before rotation|3");
    let reissued = reissued.expect("re-signed with the current key");

    // Tampered cookies: an empty session on both sides.
    let (_, body, _) = send(&app, "/read", Some(&tamper(&django_cookie))).await;
    assert_eq!(body, "|0");

    let answers = django(
        &python,
        vec![
            json!({"op": "cookie_load", "secret": SECRET, "cookie": ours_cookie}),
            json!({"op": "cookie_load", "secret": SECRET, "cookie": reissued}),
            json!({"op": "cookie_load", "secret": SECRET, "cookie": tamper(&ours_cookie)}),
        ],
    );
    assert_eq!(answers[0]["valid"], true);
    assert_eq!(
        parse(&answers[0]["json"]),
        json!({"name": "Zoë from Rust", "visits": 42})
    );
    assert_eq!(
        answers[1]["valid"], true,
        "Django without the old key reads the re-signed cookie"
    );
    assert_eq!(
        parse(&answers[1]["json"]),
        json!({"name": "before rotation", "visits": 3})
    );
    assert_eq!(answers[2]["valid"], false);
    assert_eq!(parse(&answers[2]["json"]), json!({}));
}
