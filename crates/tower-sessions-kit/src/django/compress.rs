//! zlib as Django's signing uses it: `zlib.compress(data)` (level 6, 32 KiB window, zlib header) to write,
//! `zlib.decompress` to read — here with a cap on the output.
//!
//! Compression goes through the C zlib (flate2's `zlib` backend) rather than a Rust deflate: deflate
//! implementations choose different (equally valid) encodings, and only zlib's makes the bytes Python's
//! `zlib` module makes, so only it gives the identical signed string.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::SigningError;

/// `zlib.compress(data)`: `None` only if zlib reports an error, which it does not for in-memory input
/// (the caller then keeps the data uncompressed, which Django reads all the same).
pub(crate) fn compress(data: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = Compress::new(Compression::new(6), true);
    // zlib's `compressBound`: enough for one call; the loop covers any surprise.
    let bound = data.len() + (data.len() >> 12) + (data.len() >> 14) + (data.len() >> 25) + 13;
    let mut out = Vec::with_capacity(bound);
    loop {
        let consumed = usize::try_from(encoder.total_in()).ok()?;
        let status = encoder
            .compress_vec(data.get(consumed..)?, &mut out, FlushCompress::Finish)
            .ok()?;
        if status == Status::StreamEnd {
            return Some(out);
        }
        out.reserve(bound.max(64));
    }
}

/// `zlib.decompress(data)`, refusing to produce more than `limit` bytes: at most `limit + 1` bytes are
/// ever allocated, however small the input. Bytes after the end of the zlib stream are ignored, as
/// Python ignores them.
pub(crate) fn decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, SigningError> {
    let mut decoder = Decompress::new(true);
    let ceiling = limit.saturating_add(1);
    let mut out = Vec::with_capacity(ceiling.min(data.len().saturating_mul(4).max(256)));
    loop {
        if out.len() == out.capacity() {
            if out.len() >= ceiling {
                return Err(SigningError::TooLarge { limit });
            }
            out.reserve_exact(out.len().max(256).min(ceiling - out.len()));
        }
        let consumed = usize::try_from(decoder.total_in()).unwrap_or(usize::MAX);
        let input = data.get(consumed..).unwrap_or_default();
        let written = out.len();
        let status = decoder
            .decompress_vec(input, &mut out, FlushDecompress::None)
            .map_err(|_| SigningError::Decompress("invalid zlib data"))?;
        if out.len() > limit {
            return Err(SigningError::TooLarge { limit });
        }
        match status {
            Status::StreamEnd => return Ok(out),
            Status::Ok | Status::BufError => {
                let progressed = usize::try_from(decoder.total_in()).unwrap_or(usize::MAX)
                    != consumed
                    || out.len() != written;
                if !progressed && out.len() < out.capacity() {
                    return Err(SigningError::Decompress("truncated zlib stream"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let data = b"{\"a\":\"".repeat(100);
        let compressed = compress(&data).unwrap_or_default();
        assert!(compressed.len() < data.len());
        assert_eq!(decompress(&compressed, data.len()), Ok(data.clone()));
        assert_eq!(
            decompress(&compressed, data.len() - 1),
            Err(SigningError::TooLarge {
                limit: data.len() - 1
            })
        );
    }

    #[test]
    fn matches_python_zlib() {
        // zlib.compress(b"hello hello hello hello") in Python.
        assert_eq!(
            compress(b"hello hello hello hello"),
            Some(b"x\x9c\xcbH\xcd\xc9\xc9W\xc8@'\x01h\x03\x08\xb1".to_vec())
        );
    }

    #[test]
    fn truncated_and_garbage_are_errors() {
        let compressed = compress(&[7_u8; 1000]).unwrap_or_default();
        for end in 0..compressed.len() {
            assert!(
                decompress(&compressed[..end], 10_000).is_err(),
                "cut at {end}"
            );
        }
        assert!(decompress(b"not zlib at all", 10_000).is_err());
        let mut trailing = compressed.clone();
        trailing.extend_from_slice(b"garbage");
        assert_eq!(decompress(&trailing, 10_000), Ok(vec![7_u8; 1000]));
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let bomb = compress(&vec![0_u8; 50 * 1024 * 1024]).unwrap_or_default();
        assert!(bomb.len() < 100 * 1024);
        assert_eq!(
            decompress(&bomb, 1024 * 1024),
            Err(SigningError::TooLarge { limit: 1024 * 1024 })
        );
    }
}
