//! Which responses are stored, for how long, and how their headers are patched: Django's
//! `UpdateCacheMiddleware.process_response` (reference §2.3), plus two rules where Django is unsafe.
//!
//! In order, the first that holds decides:
//!
//! 1. status other than 200 or 304 → unchanged, not stored;
//! 2. the response sets a cookie and (Django) `Vary` names `Cookie`, or (ours) cookies are not allowed →
//!    unchanged, not stored;
//! 3. `Cache-Control` contains (as a substring, case-insensitively) `private`, `no-cache` or `no-store` →
//!    unchanged, not stored;
//! 4. `Vary` contains `*` → unchanged, not stored;
//! 5. (ours, RFC 9111 §3.5) the request carries `Authorization` and the response says neither `public` nor
//!    `s-maxage` → unchanged, not stored;
//! 6. timeout: the layer's page timeout, else the response's `max-age` (0 or less → unchanged, not
//!    stored), else the layer's default;
//! 7. `Expires` (when absent) and `max-age` are patched in, 304s included;
//! 8. a non-empty `Authorization` without `public` adds `Authorization` to `Vary`;
//! 9. stored when the status is 200 and the timeout is not zero.

use std::time::Duration;

use http::header::{HeaderMap, AUTHORIZATION, CACHE_CONTROL, SET_COOKIE};
use http::StatusCode;

use crate::directives::{get_max_age, has_directive};
use crate::headers::{
    has_vary_header, patch_response_headers, patch_vary_headers, vary_header_names,
};

/// What the layer does with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Returned as it is, not stored; the reason is reported in `Cache-Status`.
    Unchanged(&'static str),
    /// Headers patched, not stored (a 304, or a zero page timeout).
    PatchedOnly(&'static str),
    /// Headers patched; store for this long.
    Store(Duration),
}

/// The layer's settings that the rules read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) page_timeout: Option<Duration>,
    pub(crate) default_timeout: Duration,
    pub(crate) allow_set_cookie: bool,
}

/// What the rules need to know about the request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestFacts {
    /// An `Authorization` header is present.
    pub(crate) authorization: bool,
    /// An `Authorization` header with a non-empty value is present.
    pub(crate) authorization_non_empty: bool,
}

impl RequestFacts {
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        let mut facts = RequestFacts::default();
        for value in headers.get_all(AUTHORIZATION) {
            facts.authorization = true;
            facts.authorization_non_empty |= !value.as_bytes().trim_ascii().is_empty();
        }
        facts
    }
}

/// Applies the rules to a response from the inner service, patching `headers` in place.
pub(crate) fn decide(
    request: RequestFacts,
    status: StatusCode,
    headers: &mut HeaderMap,
    policy: Policy,
) -> Verdict {
    if status != StatusCode::OK && status != StatusCode::NOT_MODIFIED {
        return Verdict::Unchanged("status");
    }
    if headers.contains_key(SET_COOKIE)
        && (!policy.allow_set_cookie || has_vary_header(headers, "cookie"))
    {
        return Verdict::Unchanged("set-cookie");
    }
    if let Some(reason) = uncacheable_directive(headers) {
        return Verdict::Unchanged(reason);
    }
    if vary_header_names(headers).is_err() {
        return Verdict::Unchanged("vary-star");
    }
    let public = has_directive(headers, "public");
    if request.authorization && !public && !has_directive(headers, "s-maxage") {
        return Verdict::Unchanged("authorization");
    }
    let timeout = match (policy.page_timeout, get_max_age(headers)) {
        (Some(page), _) => page,
        (None, Some(max_age)) if max_age <= 0 => return Verdict::Unchanged("max-age-zero"),
        (None, Some(max_age)) => Duration::from_secs(max_age.unsigned_abs()),
        (None, None) => policy.default_timeout,
    };
    patch_response_headers(headers, timeout);
    if request.authorization_non_empty && !public {
        patch_vary_headers(headers, ["Authorization"]);
    }
    if status == StatusCode::NOT_MODIFIED {
        Verdict::PatchedOnly("not-modified")
    } else if timeout.as_secs() == 0 {
        // Django stores nothing for a zero timeout; a sub-second one is patched as `max-age=0` too.
        Verdict::PatchedOnly("zero-timeout")
    } else {
        Verdict::Store(timeout)
    }
}

/// Django's substring test on the lower-cased `Cache-Control`.
fn uncacheable_directive(headers: &HeaderMap) -> Option<&'static str> {
    for value in headers.get_all(CACHE_CONTROL) {
        let lower = value.as_bytes().to_ascii_lowercase();
        for reason in ["private", "no-cache", "no-store"] {
            if lower.windows(reason.len()).any(|w| w == reason.as_bytes()) {
                return Some(reason);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{EXPIRES, VARY};
    use http::HeaderValue;

    const POLICY: Policy = Policy {
        page_timeout: None,
        default_timeout: Duration::from_secs(600),
        allow_set_cookie: false,
    };

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn verdict(status: u16, pairs: &[(&'static str, &'static str)], policy: Policy) -> Verdict {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        decide(RequestFacts::default(), status, &mut headers(pairs), policy)
    }

    #[test]
    fn only_200_is_stored_and_304_is_patched() {
        assert_eq!(
            verdict(200, &[], POLICY),
            Verdict::Store(Duration::from_secs(600))
        );
        assert_eq!(
            verdict(304, &[], POLICY),
            Verdict::PatchedOnly("not-modified")
        );
        for status in [201, 204, 301, 404, 500] {
            assert_eq!(
                verdict(status, &[], POLICY),
                Verdict::Unchanged("status"),
                "{status}"
            );
        }
    }

    #[test]
    fn private_no_cache_no_store_are_substrings() {
        for cc in [
            "private",
            "no-cache",
            "NO-STORE",
            "max-age=60, no-cache=\"Set-Cookie\"",
        ] {
            let mut map = HeaderMap::new();
            map.insert(
                CACHE_CONTROL,
                HeaderValue::from_str(cc).unwrap_or(HeaderValue::from_static("")),
            );
            let v = decide(RequestFacts::default(), StatusCode::OK, &mut map, POLICY);
            assert!(matches!(v, Verdict::Unchanged(_)), "{cc}: {v:?}");
        }
    }

    #[test]
    fn vary_star_and_cookies() {
        assert_eq!(
            verdict(200, &[("vary", "Cookie, * , Pony")], POLICY),
            Verdict::Unchanged("vary-star")
        );
        assert_eq!(
            verdict(200, &[("set-cookie", "a=1")], POLICY),
            Verdict::Unchanged("set-cookie")
        );
        let allow = Policy {
            allow_set_cookie: true,
            ..POLICY
        };
        assert!(matches!(
            verdict(200, &[("set-cookie", "a=1")], allow),
            Verdict::Store(_)
        ));
        assert_eq!(
            verdict(
                200,
                &[("set-cookie", "a=1"), ("vary", "Accept, cookie")],
                allow
            ),
            Verdict::Unchanged("set-cookie")
        );
    }

    #[test]
    fn timeout_precedence() {
        let page = Policy {
            page_timeout: Some(Duration::from_secs(900)),
            ..POLICY
        };
        assert_eq!(
            verdict(200, &[("cache-control", "max-age=60")], POLICY),
            Verdict::Store(Duration::from_secs(60))
        );
        assert_eq!(
            verdict(200, &[("cache-control", "max-age=60")], page),
            Verdict::Store(Duration::from_secs(900))
        );
        assert_eq!(
            verdict(200, &[("cache-control", "max-age=0")], POLICY),
            Verdict::Unchanged("max-age-zero")
        );
        assert_eq!(
            verdict(200, &[("cache-control", "max-age=0")], page),
            Verdict::Store(Duration::from_secs(900))
        );
        let zero = Policy {
            page_timeout: Some(Duration::ZERO),
            ..POLICY
        };
        assert_eq!(
            verdict(200, &[], zero),
            Verdict::PatchedOnly("zero-timeout")
        );
    }

    #[test]
    fn headers_are_patched() {
        let mut map = headers(&[("cache-control", "max-age=60")]);
        let page = Policy {
            page_timeout: Some(Duration::from_secs(900)),
            ..POLICY
        };
        decide(RequestFacts::default(), StatusCode::OK, &mut map, page);
        assert_eq!(
            map[CACHE_CONTROL], "max-age=60",
            "the smaller max-age is kept"
        );
        assert!(map.contains_key(EXPIRES));
    }

    #[test]
    fn authorization_needs_public_or_s_maxage() {
        let auth = RequestFacts {
            authorization: true,
            authorization_non_empty: true,
        };
        let run = |pairs: &[(&'static str, &'static str)]| {
            let mut map = headers(pairs);
            let v = decide(auth, StatusCode::OK, &mut map, POLICY);
            (v, map.get(VARY).cloned())
        };
        assert_eq!(run(&[]).0, Verdict::Unchanged("authorization"));
        let (v, vary) = run(&[("cache-control", "public")]);
        assert!(matches!(v, Verdict::Store(_)));
        assert_eq!(vary, None, "public: no Vary: Authorization");
        let (v, vary) = run(&[("cache-control", "s-maxage=60")]);
        assert!(matches!(v, Verdict::Store(_)));
        assert_eq!(
            vary.as_ref().map(|v| v.as_bytes()),
            Some(&b"Authorization"[..])
        );
    }
}
