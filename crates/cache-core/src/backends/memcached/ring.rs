//! Ketama consistent hashing: which server holds a key.
//!
//! Each server gets 160 points on a 32-bit circle (40 MD5 digests of `"host:port-i"`, four little-endian
//! `u32`s each); a key belongs to the first point at or after the first four bytes of its MD5. Adding or
//! removing one server of `n` moves only about `1/n` of the keys, and the layout is the one libmemcached,
//! pylibmc and spymemcached use in ketama mode, so other clients configured with the same server list find
//! the same keys on the same servers.

use md5::{Digest, Md5};

/// Digests per server; each gives four points.
const DIGESTS_PER_SERVER: usize = 40;

/// The circle of points, sorted by position.
#[derive(Debug, Clone)]
pub(super) struct Ring {
    points: Vec<(u32, usize)>,
}

impl Ring {
    /// A ring over `servers` (`host:port` each), identified by their position in the slice.
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
        Ring { points }
    }

    /// The index of the server that holds `key`.
    pub(super) fn server_for(&self, key: &str) -> usize {
        if self.points.len() <= DIGESTS_PER_SERVER * 4 {
            // One server (or none): nothing to choose.
            return self.points.first().map_or(0, |&(_, server)| server);
        }
        let digest = Md5::digest(key.as_bytes());
        let hash = u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]);
        let at = self.points.partition_point(|&(point, _)| point < hash);
        self.points
            .get(at)
            .or_else(|| self.points.first())
            .map_or(0, |&(_, server)| server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
