//! The precondition rules of [`ConditionalGetLayer`](crate::ConditionalGetLayer): Django's
//! `get_conditional_response` (reference §2.7), RFC 9110 §13.2.2.

use std::time::SystemTime;

use http::header::{
    HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_LOCATION, DATE, ETAG, EXPIRES, IF_MATCH,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE, LAST_MODIFIED, SET_COOKIE, VARY,
};
use http::{Response, StatusCode};

use crate::headers::parse_http_date;

/// What the preconditions of a request say about a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Answer with the response.
    Send,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    PreconditionFailed,
}

/// The conditional headers of a request, kept from before the inner service took it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conditions {
    if_match: Option<HeaderValue>,
    if_unmodified_since: Option<HeaderValue>,
    if_none_match: Option<HeaderValue>,
    if_modified_since: Option<HeaderValue>,
}

impl Conditions {
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        Conditions {
            if_match: headers.get(IF_MATCH).cloned(),
            if_unmodified_since: headers.get(IF_UNMODIFIED_SINCE).cloned(),
            if_none_match: headers.get(IF_NONE_MATCH).cloned(),
            if_modified_since: headers.get(IF_MODIFIED_SINCE).cloned(),
        }
    }

    /// Django's `get_conditional_response` for a GET or HEAD request (RFC 9110 §13.2.2), on a 2xx response
    /// with this `ETag` and `Last-Modified`.
    pub(crate) fn evaluate(
        &self,
        etag: Option<&str>,
        last_modified: Option<SystemTime>,
    ) -> Decision {
        let if_match = parse_etags(self.if_match.as_ref());
        let if_none_match = parse_etags(self.if_none_match.as_ref());
        let if_unmodified_since = self.if_unmodified_since.as_ref().and_then(parse_http_date);
        let if_modified_since = self.if_modified_since.as_ref().and_then(parse_http_date);

        if !if_match.is_empty() && !if_match_passes(etag, &if_match) {
            return Decision::PreconditionFailed;
        }
        if if_match.is_empty() {
            if let Some(since) = if_unmodified_since {
                if last_modified.is_none_or(|lm| lm > since) {
                    return Decision::PreconditionFailed;
                }
            }
        }
        if !if_none_match.is_empty() && !if_none_match_passes(etag, &if_none_match) {
            return Decision::NotModified;
        }
        if if_none_match.is_empty() {
            if let (Some(since), Some(lm)) = (if_modified_since, last_modified) {
                if lm <= since {
                    return Decision::NotModified;
                }
            }
        }
        Decision::Send
    }
}

/// The entity tags of an `If-Match`/`If-None-Match` value: `["*"]`, or the well-formed tags (`"x"`,
/// `W/"x"`) among the comma-separated ones; malformed tags are ignored.
fn parse_etags(value: Option<&HeaderValue>) -> Vec<String> {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return Vec::new();
    };
    if value.trim() == "*" {
        return vec!["*".to_owned()];
    }
    value
        .split(',')
        .map(str::trim)
        .filter(|tag| is_etag(tag))
        .map(str::to_owned)
        .collect()
}

fn is_etag(tag: &str) -> bool {
    let opaque = tag.strip_prefix("W/").unwrap_or(tag);
    opaque.len() >= 2
        && opaque.starts_with('"')
        && opaque.ends_with('"')
        && !opaque[1..opaque.len() - 1].contains('"')
}

fn if_match_passes(target: Option<&str>, tags: &[String]) -> bool {
    match target {
        None => false,
        Some(_) if tags == ["*"] => true,
        // A weak ETag never matches strongly.
        Some(target) if target.starts_with("W/") => false,
        Some(target) => tags.iter().any(|tag| tag == target),
    }
}

fn if_none_match_passes(target: Option<&str>, tags: &[String]) -> bool {
    match target {
        None => true,
        Some(_) if tags == ["*"] => false,
        Some(target) => {
            let weak = |tag: &str| tag.strip_prefix("W/").unwrap_or(tag).to_owned();
            let target = weak(target);
            !tags.iter().any(|tag| weak(tag) == target)
        }
    }
}

/// The `"md5-hex"` strong ETag of a body (Django's `set_response_etag`).
pub(crate) fn body_etag(body: &[u8]) -> HeaderValue {
    use md5::{Digest, Md5};
    let digest = Md5::digest(body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for byte in digest {
        use std::fmt::Write;
        // Writing into a String cannot fail.
        let _ = write!(tag, "{byte:02x}");
    }
    tag.push('"');
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// A 304 that keeps the headers RFC 9110 §15.4.5 asks for, `Last-Modified`, and every cookie.
pub(crate) fn not_modified<B>(from: &HeaderMap, body: B) -> Response<B> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    let headers = response.headers_mut();
    for name in [
        CACHE_CONTROL,
        CONTENT_LOCATION,
        DATE,
        ETAG,
        EXPIRES,
        LAST_MODIFIED,
        VARY,
        SET_COOKIE,
    ] {
        for value in from.get_all(&name) {
            headers.append(name.clone(), value.clone());
        }
    }
    response
}

/// An empty 412.
pub(crate) fn precondition_failed<B>(body: B) -> Response<B> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::PRECONDITION_FAILED;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn conditions(pairs: &[(&str, &str)]) -> Conditions {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        Conditions::of(&headers)
    }

    const ETAG_A: &str = "\"aaa\"";
    const LM: &str = "Sat, 12 Feb 2011 17:38:44 GMT";

    fn lm() -> Option<SystemTime> {
        UNIX_EPOCH.checked_add(Duration::from_secs(1_297_532_324))
    }

    /// Each case: the request's conditional header, the response's ETag, the decision, and why.
    fn check(cases: &[(&str, &str, Option<&str>, Decision, &str)]) {
        for &(name, value, etag, expected, why) in cases {
            let c = conditions(&[(name, value)]);
            assert_eq!(
                c.evaluate(etag, None),
                expected,
                "{name}: {value} vs {etag:?}: {why}"
            );
        }
    }

    #[test]
    fn if_none_match_and_if_match() {
        let (inm, im) = ("if-none-match", "if-match");
        check(&[
            (inm, ETAG_A, Some(ETAG_A), Decision::NotModified, "same"),
            (
                inm,
                ETAG_A,
                Some("W/\"aaa\""),
                Decision::NotModified,
                "weak comparison",
            ),
            (inm, ETAG_A, Some("\"bbb\""), Decision::Send, "other"),
            (inm, ETAG_A, None, Decision::Send, "no ETag"),
            (inm, "*", Some("\"x\""), Decision::NotModified, "any"),
            (
                inm,
                "\"x\", W/\"aaa\"",
                Some(ETAG_A),
                Decision::NotModified,
                "in a list",
            ),
            (im, ETAG_A, Some(ETAG_A), Decision::Send, "same"),
            (
                im,
                ETAG_A,
                Some("\"bbb\""),
                Decision::PreconditionFailed,
                "other",
            ),
            (
                im,
                ETAG_A,
                Some("W/\"aaa\""),
                Decision::PreconditionFailed,
                "weak never matches",
            ),
            (
                im,
                ETAG_A,
                None,
                Decision::PreconditionFailed,
                "no ETag: no match",
            ),
            (im, "*", Some("W/\"x\""), Decision::Send, "any"),
        ]);
    }

    #[test]
    fn dates() {
        let same = conditions(&[("if-modified-since", LM)]);
        assert_eq!(same.evaluate(None, lm()), Decision::NotModified);
        let earlier = conditions(&[("if-modified-since", "Sat, 12 Feb 2011 17:38:43 GMT")]);
        assert_eq!(earlier.evaluate(None, lm()), Decision::Send);
        let garbage = conditions(&[("if-modified-since", "not a date")]);
        assert_eq!(garbage.evaluate(None, lm()), Decision::Send);
        let ius = conditions(&[("if-unmodified-since", "Sat, 12 Feb 2011 17:38:43 GMT")]);
        assert_eq!(ius.evaluate(None, lm()), Decision::PreconditionFailed);
        assert_eq!(ius.evaluate(None, None), Decision::PreconditionFailed);
        let ius_ok = conditions(&[("if-unmodified-since", LM)]);
        assert_eq!(ius_ok.evaluate(None, lm()), Decision::Send);
        // If-None-Match takes precedence over If-Modified-Since.
        let both = conditions(&[("if-none-match", "\"other\""), ("if-modified-since", LM)]);
        assert_eq!(both.evaluate(Some(ETAG_A), lm()), Decision::Send);
    }

    #[test]
    fn malformed_tags_are_ignored() {
        assert!(parse_etags(Some(&HeaderValue::from_static("aaa, \"b\"c\", W/"))).is_empty());
        assert_eq!(
            body_etag(b"").to_str().ok(),
            Some("\"d41d8cd98f00b204e9800998ecf8427e\"")
        );
    }
}
