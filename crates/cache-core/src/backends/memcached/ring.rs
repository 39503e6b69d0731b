//! Which server holds a key: ketama consistent hashing (this crate's default), or the rendezvous hashing of
//! pymemcache's `HashClient`, which Django's `PyMemcacheCache` uses.
//!
//! Ketama: each server gets 160 points on a 32-bit circle (40 MD5 digests of `"host:port-i"`, four little-endian
//! `u32`s each); a key belongs to the first point at or after the first four bytes of its MD5. Adding or
//! removing one server of `n` moves only about `1/n` of the keys, and the layout is the one libmemcached,
//! pylibmc and spymemcached use in ketama mode, so other clients configured with the same server list find
//! the same keys on the same servers.

use md5::{Digest, Md5};

/// Digests per server; each gives four points.
const DIGESTS_PER_SERVER: usize = 40;

/// How keys are spread over the servers.
#[derive(Debug, Clone)]
pub(super) enum Ring {
    /// The circle of points, sorted by position.
    Ketama(Vec<(u32, usize)>),
    /// pymemcache's `RendezvousHash`: each key goes to the server whose name (`host:port`, as pymemcache
    /// writes it) scores highest under `murmur3_32("<name>-<key>")`; ties go to the greater name.
    Rendezvous(Vec<String>),
}

impl Ring {
    /// pymemcache's placement over `servers` (`host:port` each, `[v6]:port` for IPv6), identified by their
    /// position in the slice.
    pub(super) fn rendezvous<S: AsRef<str>>(servers: &[S]) -> Self {
        Ring::Rendezvous(
            servers
                .iter()
                .map(|server| {
                    // pymemcache names a server "%s:%s" % (host, port), the host without brackets.
                    let server = server.as_ref();
                    match server
                        .strip_prefix('[')
                        .and_then(|rest| rest.split_once(']'))
                    {
                        Some((host, port)) => format!("{host}{port}"),
                        None => server.to_owned(),
                    }
                })
                .collect(),
        )
    }

    /// A ketama ring over `servers` (`host:port` each), identified by their position in the slice.
    pub(super) fn new<S: AsRef<str>>(servers: &[S]) -> Self {
        let mut points = Vec::with_capacity(servers.len() * DIGESTS_PER_SERVER * 4);
        for (index, server) in servers.iter().enumerate() {
            for i in 0..DIGESTS_PER_SERVER {
                let digest = Md5::digest(format!("{}-{i}", server.as_ref()).as_bytes());
                for chunk in digest.chunks_exact(4) {
                    points.push((
                        u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
                        index,
                    ));
                }
            }
        }
        points.sort_unstable();
        Ring::Ketama(points)
    }

    /// The index of the server that holds `key`.
    pub(super) fn server_for(&self, key: &str) -> usize {
        match self {
            Ring::Ketama(points) => ketama(points, key),
            Ring::Rendezvous(names) => rendezvous(names, key),
        }
    }
}

fn rendezvous(names: &[String], key: &str) -> usize {
    let mut winner: Option<(u32, usize)> = None;
    for (index, name) in names.iter().enumerate() {
        let text: Vec<u8> = format!("{name}-{key}")
            .chars()
            .map(|c| c as u32 as u8)
            .collect();
        let score = murmur3_32(&text);
        winner = match winner {
            Some((best, at)) if best > score || (best == score && names[at] >= *name) => {
                Some((best, at))
            }
            _ => Some((score, index)),
        };
    }
    winner.map_or(0, |(_, index)| index)
}

/// MurmurHash3 (x86, 32-bit, seed 0) as pymemcache's pure-Python `murmur3_32` computes it: over the
/// characters of a `str`, each taken modulo 256.
fn murmur3_32(data: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h: u32 = 0;
    let blocks = data.chunks_exact(4);
    let tail = blocks.remainder();
    for block in blocks {
        h ^= mix(u32::from_le_bytes([block[0], block[1], block[2], block[3]]));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    if !tail.is_empty() {
        let mut last = [0u8; 4];
        last[..tail.len()].copy_from_slice(tail);
        h ^= mix(u32::from_le_bytes(last));
    }
    // pymemcache xors in the length as a Python int; only its low 32 bits reach the result.
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

fn ketama(points: &[(u32, usize)], key: &str) -> usize {
    {
        if points.len() <= DIGESTS_PER_SERVER * 4 {
            // One server (or none): nothing to choose.
            return points.first().map_or(0, |&(_, server)| server);
        }
        let digest = Md5::digest(key.as_bytes());
        let hash = u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]);
        let at = points.partition_point(|&(point, _)| point < hash);
        points
            .get(at)
            .or_else(|| points.first())
            .map_or(0, |&(_, server)| server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_pymemcache() {
        // pymemcache.client.murmur3.murmur3_32(s) for these strings.
        for (text, hash) in [
            ("", 0),
            ("a", 1_009_084_850),
            ("abcd", 1_139_631_978),
            ("127.0.0.1:11211-:1:key", 1_989_752_470),
            ("é✓", 1_731_920_219),
        ] {
            let bytes: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
            assert_eq!(murmur3_32(&bytes), hash, "{text:?}");
        }
    }

    #[test]
    fn rendezvous_places_keys_where_pymemcache_does() {
        // RendezvousHash(["127.0.0.1:11211", "127.0.0.1:11212"]).get_node(f":1:k{i}") for i in 0..12.
        let ring = Ring::rendezvous(&["127.0.0.1:11211", "127.0.0.1:11212"]);
        let placed: Vec<usize> = (0..12)
            .map(|i| ring.server_for(&format!(":1:k{i}")))
            .collect();
        assert_eq!(placed, [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1]);
        let v6 = Ring::rendezvous(&["[::1]:11211"]);
        assert!(matches!(&v6, Ring::Rendezvous(names) if names == &["::1:11211"]));
    }

    #[test]
    fn one_server_takes_everything() {
        let ring = Ring::new(&["127.0.0.1:11211"]);
        assert_eq!(ring.server_for("a"), 0);
        assert_eq!(ring.server_for("zzz"), 0);
    }

    #[test]
    fn keys_spread_evenly_and_stably() {
        let servers = ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"];
        let ring = Ring::new(&servers);
        let mut counts = [0usize; 3];
        for i in 0..30_000 {
            counts[ring.server_for(&format!("key-{i}"))] += 1;
        }
        for count in counts {
            assert!((7_000..13_000).contains(&count), "uneven: {counts:?}");
        }
        // Same list, same placement.
        let again = Ring::new(&servers);
        assert!((0..1000).all(|i| {
            let key = format!("key-{i}");
            ring.server_for(&key) == again.server_for(&key)
        }));
    }

    #[test]
    fn adding_a_server_moves_about_its_share() {
        let three = Ring::new(&["a:1", "b:1", "c:1"]);
        let four = Ring::new(&["a:1", "b:1", "c:1", "d:1"]);
        let moved = (0..20_000)
            .filter(|i| {
                let key = format!("key-{i}");
                three.server_for(&key) != four.server_for(&key)
            })
            .count();
        // Ideal is 1/4; a modulo hash would move about 3/4.
        assert!((3_000..7_500).contains(&moved), "moved {moved} of 20000");
    }
}
