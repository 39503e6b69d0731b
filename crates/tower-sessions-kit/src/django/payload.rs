//! The payload of `sign_object`/`unsign_object`: JSON, optionally zlib-compressed, base64url without
//! padding, a leading `.` marking compression (inside the signature, so a client cannot flip it).

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::Value;

use super::{compress, json, SigningError};

/// What Django's `b64_decode` accepts of a well-formed value: padding or not, and non-zero bits after
/// the last full byte (Python ignores them). Characters outside the base64url alphabet are refused
/// (Python's non-validating decoder would skip them); only a holder of the key can put any there.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Marks a compressed payload.
const COMPRESSED: char = '.';

/// Django's `sign_object` payload for `value`: compressed only when `compress` and the zlib stream is
/// shorter than the JSON minus one byte (`len(compressed) < len(data) - 1`).
pub(crate) fn encode(value: &Value, compress: bool) -> String {
    from_json(&json::to_string(value), compress)
}

/// The payload of already serialized JSON `data` (see [`encode`]).
pub(crate) fn from_json(data: &str, compress: bool) -> String {
    let compressed = if compress {
        compress::compress(data.as_bytes())
            .filter(|compressed| compressed.len() < data.len().saturating_sub(1))
    } else {
        None
    };
    match compressed {
        Some(compressed) => {
            let mut payload = String::with_capacity(1 + compressed.len() * 4 / 3 + 4);
            payload.push(COMPRESSED);
            URL_SAFE_NO_PAD.encode_string(compressed, &mut payload);
            payload
        }
        None => URL_SAFE_NO_PAD.encode(data),
    }
}

/// The value of a payload, decompressing at most `limit` bytes.
pub(crate) fn decode(payload: &str, limit: usize) -> Result<Value, SigningError> {
    let (compressed, encoded) = match payload.strip_prefix(COMPRESSED) {
        Some(rest) => (true, rest),
        None => (false, payload),
    };
    let raw = LENIENT
        .decode(encoded)
        .map_err(|_| SigningError::Malformed("invalid base64"))?;
    let data = if compressed {
        compress::decompress(&raw, limit)?
    } else {
        raw
    };
    Ok(json::from_slice(&data)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compresses_only_when_it_saves_two_bytes() {
        let short = json!("hello");
        assert_eq!(encode(&short, true), encode(&short, false));
        let long = json!("a".repeat(500));
        let payload = encode(&long, true);
        assert!(payload.starts_with('.'));
        assert_eq!(decode(&payload, 1000), Ok(long));
    }

    #[test]
    fn padding_and_stray_bits_are_accepted() {
        // "1" is "MQ" in base64; "MR" has stray bits, "MQ==" padding.
        for encoded in ["MQ", "MR", "MQ=="] {
            assert_eq!(decode(encoded, 10), Ok(json!(1)), "{encoded}");
        }
        assert_eq!(
            decode("M", 10),
            Err(SigningError::Malformed("invalid base64"))
        );
    }
}
