//! `DEMO_SMOKE=1`: the running demo requests each of its routes once, as a visitor with a cookie jar
//! would, checks the answers, and prints one line per check and a summary.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body_util::BodyExt;

use crate::app::backends::BoxError;
use crate::app::{pages, CACHE_STATUS_NAME};

#[path = "../../tests/web/mod.rs"]
mod web;

use web::Browser;

/// How long one request may take (the demo answers in milliseconds; this only turns a hang into a
/// failure).
const DEADLINE: Duration = Duration::from_secs(30);

/// Runs every check against the demo at `addr`; `Err` when any failed.
pub async fn run(addr: SocketAddr) -> Result<(), BoxError> {
    let mut visitor = Browser::new(format!("http://{addr}"));
    let checks: Vec<(&str, Result<String, String>)> = vec![
        ("GET / renders the home page", home(&mut visitor).await),
        (
            "GET / again is a page-cache hit",
            home_again(&mut visitor).await,
        ),
        (
            "GET /post/1 counts a visit",
            visits(&mut visitor, 1, None).await,
        ),
        (
            "POST /login cycles the session key",
            login(&mut visitor).await,
        ),
        (
            "GET /post/1 shows the user",
            visits(&mut visitor, 2, Some("smoke")).await,
        ),
        (
            "POST /logout flushes the session",
            logout(&mut visitor).await,
        ),
        (
            "GET /post/1 is anonymous again",
            visits(&mut visitor, 1, None).await,
        ),
        (
            "GET /boom answers the 500 page",
            page(&mut visitor, "/boom", 500).await,
        ),
        (
            "GET /post/2 still served",
            page(&mut visitor, "/post/2", 200).await,
        ),
        (
            "GET /post/9 answers the 404 page",
            page(&mut visitor, "/post/9", 404).await,
        ),
        ("GET /events streams at once", events(&mut visitor).await),
    ];
    let mut failed = 0;
    for (name, outcome) in &checks {
        match outcome {
            Ok(detail) => println!("smoke: ok     {name}: {detail}"),
            Err(problem) => {
                failed += 1;
                println!("smoke: FAILED {name}: {problem}");
            }
        }
    }
    let passed = checks.len() - failed;
    println!("smoke: {passed} of {} checks passed", checks.len());
    if failed > 0 {
        return Err(format!("{failed} smoke checks failed").into());
    }
    Ok(())
}

/// One request; its headers and body when the status is `status` and it carries `X-Response-Time`.
async fn fetch(
    visitor: &mut Browser,
    method: Method,
    path: &str,
    fields: Option<&[(&str, &str)]>,
    status: u16,
) -> Result<(HeaderMap, String), String> {
    let (got, headers, body) = match fields {
        Some(fields) => visitor.try_submit(path, fields, DEADLINE).await?,
        None => visitor.try_send(method, path, DEADLINE).await?,
    };
    let body = String::from_utf8_lossy(&body).into_owned();
    if got != status {
        return Err(format!("status {got}, expected {status}"));
    }
    if !headers.contains_key("x-response-time") {
        return Err("no X-Response-Time header".into());
    }
    Ok((headers, body))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

async fn home(visitor: &mut Browser) -> Result<String, String> {
    let (headers, _) = fetch(visitor, Method::GET, "/", None, 200).await?;
    Ok(format!(
        "cache-status: {}",
        header(&headers, "cache-status")
    ))
}

async fn home_again(visitor: &mut Browser) -> Result<String, String> {
    let (headers, _) = fetch(visitor, Method::GET, "/", None, 200).await?;
    let status = header(&headers, "cache-status");
    if status != format!("{CACHE_STATUS_NAME}; hit") {
        return Err(format!("cache-status: {status:?}"));
    }
    Ok(format!("cache-status: {status}"))
}

/// `GET /post/1` shows `visits` and `user`.
async fn visits(visitor: &mut Browser, visits: u64, user: Option<&str>) -> Result<String, String> {
    let (_, body) = fetch(visitor, Method::GET, "/post/1", None, 200).await?;
    let shown = (pages::shown_visits(&body), pages::shown_user(&body));
    if shown != (Some(visits), user) {
        return Err(format!("shows visits and user {shown:?}"));
    }
    Ok(format!("visits {visits}, user {}", user.unwrap_or("-")))
}

async fn login(visitor: &mut Browser) -> Result<String, String> {
    let before = visitor.cookie("sessionid");
    let fields = [("name", "smoke"), ("next", "/post/1")];
    let (headers, _) = fetch(visitor, Method::POST, "/login", Some(&fields), 303).await?;
    let location = header(&headers, "location");
    let after = visitor.cookie("sessionid");
    if location != "/post/1" || after.is_none() || after == before {
        return Err(format!(
            "location {location:?}, session key changed: {}",
            after.is_some() && after != before
        ));
    }
    Ok(format!("303 to {location}, new session key"))
}

async fn logout(visitor: &mut Browser) -> Result<String, String> {
    let fields = [("next", "/post/1")];
    let (headers, _) = fetch(visitor, Method::POST, "/logout", Some(&fields), 303).await?;
    if visitor.cookie("sessionid").is_some() {
        return Err("the session cookie was not removed".into());
    }
    Ok(format!(
        "303 to {}, cookie removed",
        header(&headers, "location")
    ))
}

/// `path` answers `status` with an HTML page.
async fn page(visitor: &mut Browser, path: &str, status: u16) -> Result<String, String> {
    let (headers, body) = fetch(visitor, Method::GET, path, None, status).await?;
    let html = header(&headers, "content-type").starts_with("text/html");
    if !html || !body.contains("</html>") {
        return Err("not an HTML page".into());
    }
    Ok(format!(
        "{status}, x-response-time: {}",
        header(&headers, "x-response-time")
    ))
}

/// `/events` answers an event stream whose first event comes at once (well within [`DEADLINE`]).
async fn events(visitor: &mut Browser) -> Result<String, String> {
    let response = visitor
        .try_request(Method::GET, "/events", DEADLINE)
        .await?;
    let (head, mut body) = response.into_parts();
    if head.status != 200 || header(&head.headers, "content-type") != "text/event-stream" {
        return Err(format!("status {}, not an event stream", head.status));
    }
    let mut received = Vec::new();
    let first_event = async {
        while !received.windows(2).any(|pair: &[u8]| pair == b"\n\n") {
            match body.frame().await {
                Some(Ok(frame)) => {
                    received.extend_from_slice(&frame.into_data().unwrap_or_else(|_| Bytes::new()))
                }
                Some(Err(error)) => return Err(format!("body: {error}")),
                None => return Err("the stream ended before its first event".into()),
            }
        }
        Ok(())
    };
    tokio::time::timeout(DEADLINE, first_event)
        .await
        .map_err(|_| format!("no event within {DEADLINE:?}"))??;
    let text = String::from_utf8_lossy(&received);
    let data = text
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap_or_default()
        .to_owned();
    Ok(format!("first event: {data}"))
}
