//! `Cache-Control` directives: parsing a header, and [`CacheDirectives`], the set of directives that
//! [`patch_cache_control`](crate::patch_cache_control) and [`CacheControlLayer`](crate::CacheControlLayer)
//! merge into a response (Django's `patch_cache_control(response, **kwargs)`).

use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue, CACHE_CONTROL};

use crate::setting::{is_quoted_string, is_token, InvalidSetting};

/// The value of one directive: bare (`public`) or with a value (`max-age=60`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DirectiveValue {
    Bare,
    Value(String),
}

/// A parsed directive; names are lower-cased, values kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    pub(crate) name: String,
    pub(crate) value: DirectiveValue,
}

impl Directive {
    fn parse(field: &str) -> Self {
        match field.split_once('=') {
            Some((name, value)) => Directive {
                name: name.trim().to_ascii_lowercase(),
                value: DirectiveValue::Value(value.trim().to_owned()),
            },
            None => Directive {
                name: field.trim().to_ascii_lowercase(),
                value: DirectiveValue::Bare,
            },
        }
    }

    fn render(&self, out: &mut String) {
        out.push_str(&self.name);
        if let DirectiveValue::Value(value) = &self.value {
            out.push('=');
            out.push_str(value);
        }
    }
}

/// Every `Cache-Control` value of `headers` joined by `, ` (a list header may be split over several lines),
/// read leniently: bytes that are not valid UTF-8 are replaced, never an error.
pub(crate) fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let mut joined = String::from_utf8_lossy(first.as_bytes()).into_owned();
    for value in values {
        joined.push_str(", ");
        joined.push_str(&String::from_utf8_lossy(value.as_bytes()));
    }
    Some(joined)
}

/// Splits a list header on commas, trimming each element and dropping empty ones (Django's `\s*,\s*`).
pub(crate) fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|field| !field.is_empty())
}

/// The directives of the `Cache-Control` header(s), in order.
pub(crate) fn parse(headers: &HeaderMap) -> Vec<Directive> {
    joined(headers, &CACHE_CONTROL)
        .map(|value| split_list(&value).map(Directive::parse).collect())
        .unwrap_or_default()
}

/// Django's `get_max_age`: the integer `max-age` of the response, or `None` when absent or not an integer.
pub fn get_max_age(headers: &HeaderMap) -> Option<i64> {
    parse(headers)
        .into_iter()
        .find(|directive| directive.name == "max-age")
        .and_then(|directive| match directive.value {
            DirectiveValue::Value(value) => value.parse().ok(),
            DirectiveValue::Bare => None,
        })
}

/// Directives to merge into a response's `Cache-Control` header: Django's `cache_control(**kwargs)`.
///
/// ```
/// use std::time::Duration;
/// use tower_cache_page::CacheDirectives;
///
/// let directives = CacheDirectives::new()
///     .public()
///     .max_age(Duration::from_secs(3600))
///     .directive("stale-if-error", Some("60"))?;
/// # let _ = directives;
/// # Ok::<(), tower_cache_page::InvalidSetting>(())
/// ```
///
/// The merge rules are [`patch_cache_control`](crate::patch_cache_control)'s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct CacheDirectives {
    pub(crate) directives: Vec<Directive>,
}

impl CacheDirectives {
    /// No directives.
    pub fn new() -> Self {
        CacheDirectives::default()
    }

    /// Any directive: `value` `None` for a bare one (`immutable`), `Some(v)` for `name=v`. The name is
    /// lower-cased; `_` becomes `-` as with Django's keyword arguments.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] when the name is not an HTTP token, or the value neither a token (`60`) nor a
    /// quoted string (`"Set-Cookie"`): such a directive would make the whole header unusable.
    pub fn directive(self, name: &str, value: Option<&str>) -> Result<Self, InvalidSetting> {
        let name = name.trim().to_ascii_lowercase().replace('_', "-");
        if !is_token(&name) {
            return Err(InvalidSetting::new(
                "directive name",
                &name,
                "not an HTTP token",
            ));
        }
        if let Some(value) = value.filter(|v| !is_token(v) && !is_quoted_string(v)) {
            return Err(InvalidSetting::new(
                "directive value",
                value,
                "neither a token nor a quoted string",
            ));
        }
        Ok(self.push(&name, value))
    }

    /// Adds a directive known to be valid (a name and value of this crate's own).
    fn push(mut self, name: &str, value: Option<&str>) -> Self {
        let value = value.map_or(DirectiveValue::Bare, |v| {
            DirectiveValue::Value(v.to_owned())
        });
        self.directives.push(Directive {
            name: name.to_owned(),
            value,
        });
        self
    }

    /// `public` (removes an existing `private`).
    pub fn public(self) -> Self {
        self.push("public", None)
    }

    /// `private` (removes an existing `public`).
    pub fn private(self) -> Self {
        self.push("private", None)
    }

    /// Bare `no-cache`; it wins over field-named ones.
    pub fn no_cache(self) -> Self {
        self.push("no-cache", None)
    }

    /// `no-cache="field"`: accumulates with other field names.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] when `field` is not a header name.
    pub fn no_cache_field(self, field: &str) -> Result<Self, InvalidSetting> {
        if !is_token(field) {
            return Err(InvalidSetting::new(
                "header name",
                field,
                "not an HTTP token",
            ));
        }
        Ok(self.push("no-cache", Some(&format!("\"{field}\""))))
    }

    /// `no-store`.
    pub fn no_store(self) -> Self {
        self.push("no-store", None)
    }

    /// `must-revalidate`.
    pub fn must_revalidate(self) -> Self {
        self.push("must-revalidate", None)
    }

    /// `max-age` in whole seconds; merged with an existing one by taking the smaller.
    pub fn max_age(self, age: Duration) -> Self {
        self.push("max-age", Some(&age.as_secs().to_string()))
    }

    /// `s-maxage` in whole seconds.
    pub fn s_maxage(self, age: Duration) -> Self {
        self.push("s-maxage", Some(&age.as_secs().to_string()))
    }

    /// Whether no directive was added.
    pub fn is_empty(&self) -> bool {
        self.directives.is_empty()
    }
}

/// Merges `new` into `existing` by Django's rules; see [`patch_cache_control`](crate::patch_cache_control).
pub(crate) fn merge(existing: Vec<Directive>, new: &[Directive]) -> Vec<Directive> {
    let mut merged: Vec<Directive> = Vec::with_capacity(existing.len() + new.len());
    let new_has = |name: &str| new.iter().any(|d| d.name == name);
    let drop_private = new_has("public");
    let drop_public = !drop_private && new_has("private");

    for directive in existing {
        if (drop_private && directive.name == "private")
            || (drop_public && directive.name == "public")
        {
            continue;
        }
        upsert(&mut merged, directive);
    }
    for directive in new {
        let mut directive = directive.clone();
        if directive.name == "max-age" {
            // An existing and a new max-age: the smaller wins (a decorator and a middleware both set one).
            if let (Some(existing), Some(new_secs)) =
                (numeric(&merged, "max-age"), value_u64(&directive))
            {
                directive.value = DirectiveValue::Value(existing.min(new_secs).to_string());
            }
        }
        upsert(&mut merged, directive);
    }
    collapse_no_cache(merged)
}

fn value_u64(directive: &Directive) -> Option<u64> {
    match &directive.value {
        DirectiveValue::Value(value) => value.parse().ok(),
        DirectiveValue::Bare => None,
    }
}

fn numeric(directives: &[Directive], name: &str) -> Option<u64> {
    directives
        .iter()
        .find(|d| d.name == name)
        .and_then(value_u64)
}

/// Puts a directive in place: `no-cache` accumulates distinct values, anything else replaces the value of
/// the directive of the same name where it stands (so existing directives keep their order).
fn upsert(merged: &mut Vec<Directive>, directive: Directive) {
    if directive.name == "no-cache" {
        if !merged.contains(&directive) {
            merged.push(directive);
        }
        return;
    }
    match merged.iter_mut().find(|d| d.name == directive.name) {
        Some(slot) => slot.value = directive.value,
        None => merged.push(directive),
    }
}

/// A bare `no-cache` wins over field-named ones.
fn collapse_no_cache(merged: Vec<Directive>) -> Vec<Directive> {
    let bare = merged
        .iter()
        .any(|d| d.name == "no-cache" && d.value == DirectiveValue::Bare);
    if !bare {
        return merged;
    }
    let mut seen_bare = false;
    merged
        .into_iter()
        .filter(|d| {
            if d.name != "no-cache" {
                return true;
            }
            if d.value == DirectiveValue::Bare && !seen_bare {
                seen_bare = true;
                return true;
            }
            false
        })
        .collect()
}

/// Renders directives as a header value joined by `, `; `None` when empty or when a value holds bytes a
/// header cannot carry.
pub(crate) fn render(directives: &[Directive]) -> Option<HeaderValue> {
    if directives.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (i, directive) in directives.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        directive.render(&mut out);
    }
    HeaderValue::from_bytes(out.as_bytes()).ok()
}

/// Whether `headers` carry a `Cache-Control` directive named `name` (case-insensitive).
pub(crate) fn has_directive(headers: &HeaderMap, name: &str) -> bool {
    headers.get_all(CACHE_CONTROL).iter().any(|value| {
        String::from_utf8_lossy(value.as_bytes())
            .split(',')
            .map(|field| field.split('=').next().unwrap_or("").trim())
            .any(|directive| directive.eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> Vec<Directive> {
        split_list(value).map(Directive::parse).collect()
    }

    fn merged(existing: &str, new: CacheDirectives) -> String {
        let out = merge(parsed(existing), &new.directives);
        render(&out)
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn django_patch_cache_control_vectors() {
        // Cases from Django's tests/cache/tests.py::test_patch_cache_control: (existing header, directives
        // merged in, result).
        let secs = Duration::from_secs;
        let new = CacheDirectives::new;
        let field = |name| new().no_cache_field(name).unwrap_or_default();
        let vectors = [
            ("", new().no_cache(), "no-cache"),
            ("", new().no_store(), "no-store"),
            ("", new().max_age(secs(10)), "max-age=10"),
            ("foo=bar", new().max_age(secs(10)), "foo=bar, max-age=10"),
            ("max-age=1", new().max_age(secs(10)), "max-age=1"),
            ("max-age=100", new().max_age(secs(10)), "max-age=10"),
            ("private", new().public(), "public"),
            ("public", new().private(), "private"),
            ("Public, max-age=5", new().private(), "max-age=5, private"),
            ("", field("Set-Cookie"), "no-cache=\"Set-Cookie\""),
            (
                "no-cache=\"Set-Cookie\"",
                field("foo"),
                "no-cache=\"Set-Cookie\", no-cache=\"foo\"",
            ),
            ("no-cache=\"Set-Cookie\"", new().no_cache(), "no-cache"),
            ("no-cache", field("Set-Cookie"), "no-cache"),
            (
                "",
                new()
                    .directive("stale_while_revalidate", Some("30"))
                    .unwrap_or_default(),
                "stale-while-revalidate=30",
            ),
        ];
        for (existing, directives, expected) in vectors {
            assert_eq!(merged(existing, directives), expected);
        }
    }

    #[test]
    fn directives_a_header_cannot_carry_are_refused() {
        let refused = |d: Result<CacheDirectives, InvalidSetting>| d.err().map(|e| e.setting());
        let new = CacheDirectives::new;
        assert_eq!(
            refused(new().directive("a b", None)),
            Some("directive name")
        );
        assert_eq!(refused(new().directive("", None)), Some("directive name"));
        assert_eq!(
            refused(new().directive("x", Some("1, y"))),
            Some("directive value")
        );
        assert_eq!(
            refused(new().directive("x", Some("a\nb"))),
            Some("directive value")
        );
        assert_eq!(
            refused(new().no_cache_field("Set Cookie")),
            Some("header name")
        );
        assert_eq!(refused(new().directive("x", Some("\"a, b\""))), None);
    }

    #[test]
    fn max_age_is_read_only_when_an_integer() {
        let mut headers = HeaderMap::new();
        assert_eq!(get_max_age(&headers), None);
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        );
        assert_eq!(get_max_age(&headers), Some(60));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=\"60\""));
        assert_eq!(get_max_age(&headers), None);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age"));
        assert_eq!(get_max_age(&headers), None);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("MAX-AGE=0"));
        assert_eq!(get_max_age(&headers), Some(0));
    }
}
