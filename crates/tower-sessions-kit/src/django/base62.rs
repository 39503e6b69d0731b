//! Django's base62 (`django.core.signing.b62_encode` / `b62_decode`), the timestamp of a
//! `TimestampSigner` value.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `value` in base62, `-` first when negative (`0` is `"0"`).
pub fn encode(value: i64) -> String {
    if value == 0 {
        return "0".to_owned();
    }
    let mut rest = value.unsigned_abs();
    let mut digits = Vec::with_capacity(12);
    while rest > 0 {
        digits.push(ALPHABET[(rest % 62) as usize]);
        rest /= 62;
    }
    if value < 0 {
        digits.push(b'-');
    }
    digits
        .iter()
        .rev()
        .map(|&digit| char::from(digit))
        .collect()
}

/// The number `text` encodes, as Django reads it: an optional leading `-`, then digits of the alphabet
/// (leading zeros allowed; a lone `-` is 0, as in Django). `None` for an empty text, any other character,
/// or a value outside `i64` (Django has no limit, but no real timestamp comes near).
pub fn decode(text: &str) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut value: i64 = 0;
    for byte in digits.bytes() {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'A'..=b'Z' => byte - b'A' + 10,
            b'a'..=b'z' => byte - b'a' + 36,
            _ => return None,
        };
        value = value.checked_mul(62)?.checked_add(i64::from(digit))?;
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_django() {
        // b62_encode(1700000000) == "1r31eq" in Django.
        assert_eq!(encode(1_700_000_000), "1r31eq");
        assert_eq!(encode(i64::MAX), "AzL8n0Y58m7");
        for value in [0, 1, 61, 62, -1, -62, 1_700_000_000, i64::MAX, i64::MIN + 1] {
            assert_eq!(decode(&encode(value)), Some(value), "{value}");
        }
    }

    #[test]
    fn reads_what_django_reads() {
        assert_eq!(decode("-"), Some(0));
        assert_eq!(decode("00"), Some(0));
        assert_eq!(decode("-0"), Some(0));
        assert_eq!(decode(""), None);
        assert_eq!(decode("1_"), None);
        assert_eq!(decode("zzzzzzzzzzzzzzzzzzzz"), None, "overflow");
    }
}
