//! The absolute URL Django hashes into page keys: `request.build_absolute_uri()` of a request that came in
//! through WSGI, byte for byte.
//!
//! Django builds it as `iri_to_uri(scheme + "://" + host + escape_uri_path(path) + "?" + iri_to_uri(query))`
//! (the `?` only with a non-empty query), where:
//!
//! - the host is the `Host` header as sent (not lower-cased), read by WSGI as Latin-1;
//! - the path is the *percent-decoded* path (WSGI's `PATH_INFO`): its bytes that are not valid UTF-8 are
//!   re-percent-encoded (`repercent_broken_unicode`), and the result goes through
//!   `escape_uri_path` (`quote(path, safe="/:@&+$,-_.!~*'()")`), so `%41` becomes `A`, `;` becomes `%3B`,
//!   and an invalid byte `%E9` becomes `%25E9`;
//! - the query is the raw query string read as Latin-1, through `iri_to_uri`
//!   (`quote(.., safe="/#%[]=:;$&()+,!?*@'~")`, which encodes non-ASCII characters as UTF-8).
//!
//! `quote` always leaves ASCII letters, digits and `_.-~` alone, and writes upper-case hex.

/// What `escape_uri_path` leaves alone besides letters, digits and `_.-~`.
const PATH_SAFE: &[u8] = b"/:@&+$,-_.!~*'()";

/// What `iri_to_uri` leaves alone besides letters, digits and `_.-~`.
const IRI_SAFE: &[u8] = b"/#%[]=:;$&()+,!?*@'~";

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Python's `quote` of one byte of an encoded string: as is when safe, else `%XX`.
fn quote_byte(out: &mut Vec<u8>, byte: u8, safe: &[u8]) {
    if byte.is_ascii_alphanumeric() || b"_.-~".contains(&byte) || safe.contains(&byte) {
        out.push(byte);
    } else {
        out.extend_from_slice(&[
            b'%',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]);
    }
}

/// `quote(bytes.decode("latin-1"), safe)`: each byte is a character, encoded as UTF-8 before quoting.
fn quote_latin1(out: &mut Vec<u8>, bytes: &[u8], safe: &[u8]) {
    for &byte in bytes {
        if byte < 0x80 {
            quote_byte(out, byte, safe);
        } else {
            quote_byte(out, 0xc0 | (byte >> 6), safe);
            quote_byte(out, 0x80 | (byte & 0x3f), safe);
        }
    }
}

/// The value of one hex digit.
fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// `unquote_to_bytes`: `%XX` decoded, a `%` not followed by two hex digits kept.
fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let decoded = match raw.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex_value(*hi).zip(hex_value(*lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(raw[i]);
                i += 1;
            }
        }
    }
    out
}

/// `escape_uri_path(repercent_broken_unicode(unquote(path)))`.
fn escape_path(out: &mut Vec<u8>, raw: &[u8]) {
    let decoded = percent_decode(raw);
    let mut rest = &decoded[..];
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                for &byte in valid.as_bytes() {
                    quote_byte(out, byte, PATH_SAFE);
                }
                return;
            }
            Err(error) => {
                let (valid, after) = rest.split_at(error.valid_up_to());
                for &byte in valid {
                    quote_byte(out, byte, PATH_SAFE);
                }
                let bad = error.error_len().unwrap_or(after.len());
                // Re-percent-encoded as `%XX`, whose `%` `escape_uri_path` then encodes as `%25`.
                for &byte in &after[..bad] {
                    out.extend_from_slice(b"%25");
                    out.extend_from_slice(&[
                        HEX[usize::from(byte >> 4)],
                        HEX[usize::from(byte & 0xf)],
                    ]);
                }
                rest = &after[bad..];
            }
        }
    }
}

/// Django's absolute URL of a request; `scheme` defaults to `http`, an empty path is `/`, an empty query
/// none.
pub(crate) fn absolute_url(
    scheme: Option<&str>,
    host: &[u8],
    path: &str,
    query: Option<&str>,
) -> Vec<u8> {
    let scheme = scheme.unwrap_or("http").as_bytes();
    let path = if path.is_empty() { "/" } else { path }.as_bytes();
    let query = query.filter(|q| !q.is_empty()).map(str::as_bytes);
    let mut out = Vec::with_capacity(
        scheme.len() + 3 + host.len() + path.len() + query.map_or(0, |q| q.len() + 1) + 16,
    );
    quote_latin1(&mut out, scheme, IRI_SAFE);
    out.extend_from_slice(b"://");
    quote_latin1(&mut out, host, IRI_SAFE);
    escape_path(&mut out, path);
    if let Some(query) = query {
        out.push(b'?');
        quote_latin1(&mut out, query, IRI_SAFE);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(path: &str, query: Option<&str>) -> String {
        String::from_utf8_lossy(&absolute_url(None, b"Example.COM:8000", path, query)).into_owned()
    }

    #[test]
    fn like_build_absolute_uri() {
        assert_eq!(url("/a/b/", None), "http://Example.COM:8000/a/b/");
        assert_eq!(url("", Some("")), "http://Example.COM:8000/");
        assert_eq!(url("/%41%7e;=x", None), "http://Example.COM:8000/A~%3B%3Dx");
        assert_eq!(url("/caf%C3%A9", None), "http://Example.COM:8000/caf%C3%A9");
        assert_eq!(url("/caf%e9", None), "http://Example.COM:8000/caf%25E9");
        assert_eq!(url("/a%2Fb%zz", None), "http://Example.COM:8000/a/b%25zz");
        assert_eq!(
            url("/p", Some("a=1&b=%20\"|")),
            "http://Example.COM:8000/p?a=1&b=%20%22%7C"
        );
        assert_eq!(
            String::from_utf8_lossy(&absolute_url(Some("https"), b"h\xe9", "/", None)),
            "https://h%C3%A9/"
        );
    }
}
