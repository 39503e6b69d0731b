//! Page keys byte for byte as Django 5.2 makes them: each case of `tests/django/page_keys.txt` (made by
//! `tests/django/page_keys.py` with Django's own `learn_cache_key`) goes through a layer on the memory
//! backend, and the header list and the page must be stored under exactly Django's keys.

use std::convert::Infallible;

use bytes::Bytes;
use cache_core::backends::MemoryBackend;
use cache_core::Cache;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use tower::{Layer, ServiceExt};
use tower_cache_page::CachePageLayer;

const FIXTURE: &str = include_str!("../../../tests/django/page_keys.txt");

/// One case of the fixture.
#[derive(Default, Debug)]
struct Case {
    fields: Vec<(String, String)>,
    headers: Vec<(String, Vec<u8>)>,
}

impl Case {
    fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn optional(&self, name: &str) -> Option<&str> {
        Some(self.get(name)).filter(|v| *v != "-")
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn cases() -> Vec<Case> {
    FIXTURE
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut case = Case::default();
            for line in block.lines() {
                let mut parts = line.splitn(3, '\t');
                let name = parts.next().unwrap_or_default();
                let value = parts.next().unwrap_or_default();
                if name == "header" {
                    let bytes = hex(parts.next().unwrap_or_default());
                    case.headers.push((value.to_owned(), bytes));
                } else {
                    case.fields.push((name.to_owned(), value.to_owned()));
                }
            }
            case
        })
        .collect()
}

async fn run(case: &Case) {
    let name = case.get("case");
    let version: u32 = case.get("version").parse().expect("version");
    let cache = Cache::builder(MemoryBackend::new())
        .key_prefix(case.get("cache_prefix"))
        .version(version.into())
        .build();
    let layer = CachePageLayer::new(cache.clone())
        .key_prefix(case.get("prefix"))
        .django_key_suffix(case.optional("language"), case.optional("time_zone"))
        .expect("a valid suffix");
    let vary = case.optional("vary").map(str::to_owned);
    let service = layer.layer(tower::service_fn(move |_: Request<Empty<Bytes>>| {
        let vary = vary.clone();
        async move {
            let mut response = Response::new(Full::new(Bytes::from_static(b"page")));
            if let Some(vary) = vary {
                response
                    .headers_mut()
                    .insert("vary", HeaderValue::from_str(&vary).expect("vary"));
            }
            Ok::<_, Infallible>(response)
        }
    }));
    let query = case.get("query");
    let path_and_query = if query.is_empty() {
        case.get("path").to_owned()
    } else {
        format!("{}?{query}", case.get("path"))
    };
    // HTTP/1 requests carry no scheme; an HTTPS one is given as the absolute URI an HTTP/2 request has.
    let uri = if case.get("scheme") == "https" {
        format!("https://{}{path_and_query}", case.get("host"))
    } else {
        path_and_query
    };
    let mut request = Request::builder()
        .method(case.get("method"))
        .uri(uri)
        .header("host", case.get("host"));
    for (header, value) in &case.headers {
        request = request.header(header, HeaderValue::from_bytes(value).expect("value"));
    }
    let request = request.body(Empty::new()).expect("request");
    let Ok(response) = service.oneshot(request).await;
    let _ = response.into_body().collect().await;
    let raw = cache.raw();
    assert!(
        raw.get(case.get("header_key"))
            .await
            .expect("get")
            .is_some(),
        "{name}: nothing under Django's header-list key {}",
        case.get("header_key")
    );
    assert!(
        raw.get(case.get("page_key")).await.expect("get").is_some(),
        "{name}: nothing under Django's page key {}",
        case.get("page_key")
    );
}

#[tokio::test]
async fn keys_are_djangos() {
    let cases = cases();
    assert!(cases.len() >= 20, "the fixture has {} cases", cases.len());
    for case in &cases {
        run(case).await;
    }
}

/// The committed fixture is what Django computes now (with `TEST_DJANGO_PYTHON`, a Python with Django).
#[test]
fn the_fixture_is_what_django_computes() {
    let Ok(python) = std::env::var("TEST_DJANGO_PYTHON") else {
        eprintln!("skipping the Django fixture check: set TEST_DJANGO_PYTHON to run it");
        return;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/django/page_keys.py"
    );
    let output = std::process::Command::new(python)
        .arg(script)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), FIXTURE);
}

#[test]
fn key_suffixes_are_validated() {
    let layer = || CachePageLayer::new(Cache::new(MemoryBackend::new()));
    assert!(layer().django_key_suffix(None, None).is_ok());
    assert!(layer()
        .django_key_suffix(Some("zh-hans"), Some("America/Argentina/Buenos_Aires"))
        .is_ok());
    for (language, time_zone) in [
        (Some(""), None),
        (None, Some("")),
        (Some("en us"), None),
        (None, Some("UTC\n")),
        (Some("é"), None),
    ] {
        let error = layer().django_key_suffix(language, time_zone).err();
        assert!(error.is_some(), "{language:?} {time_zone:?} was accepted");
    }
    let long = "x".repeat(65);
    let error = layer().django_key_suffix(None, Some(&long)).err();
    assert_eq!(error.map(|e| e.setting()), Some("time zone"));
}
