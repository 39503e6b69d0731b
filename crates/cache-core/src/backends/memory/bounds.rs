//! [`Bounds`]: how full a store may get, and Django's rule for how much a write culls when it is full.

/// A store's bounds, fixed when it is made (a named store keeps those of the first backend built on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bounds {
    /// Django's `MAX_ENTRIES`: a write that finds this many entries culls first.
    pub(super) max_entries: u64,
    /// Django's `CULL_FREQUENCY`: a cull removes `len / cull_frequency` entries, or all of them when 0.
    pub(super) cull_frequency: u64,
    /// The most bytes of keys and values held; past it, least recently used entries go one at a time.
    pub(super) max_bytes: u64,
}

/// What a write must remove before it inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cull {
    /// The store is not full.
    Nothing,
    /// This many of the least recently used entries.
    Oldest(usize),
    /// Every entry (`cull_frequency` 0).
    All,
}

impl Bounds {
    /// Django's `LocMemCache._set`: a write that finds `len >= max_entries` entries (expired ones count,
    /// as Django removes those only when they are read) culls `len // cull_frequency` of the least recently
    /// used, or clears the store when `cull_frequency` is 0.
    pub(super) fn cull(&self, len: usize) -> Cull {
        let held = u64::try_from(len).unwrap_or(u64::MAX);
        if held < self.max_entries {
            return Cull::Nothing;
        }
        match held.checked_div(self.cull_frequency) {
            None => Cull::All,
            Some(doomed) => Cull::Oldest(usize::try_from(doomed).unwrap_or(len)),
        }
    }

    /// Whether `bytes` of keys and values are more than the store may hold.
    pub(super) fn over_bytes(&self, bytes: usize) -> bool {
        u64::try_from(bytes).unwrap_or(u64::MAX) > self.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(max_entries: u64, cull_frequency: u64) -> Bounds {
        Bounds {
            max_entries,
            cull_frequency,
            max_bytes: u64::MAX,
        }
    }

    #[test]
    fn culls_a_fraction_of_a_full_store_as_django_does() {
        let b = bounds(30, 3);
        assert_eq!(b.cull(29), Cull::Nothing);
        assert_eq!(b.cull(30), Cull::Oldest(10));
        assert_eq!(b.cull(31), Cull::Oldest(10));
        assert_eq!(b.cull(32), Cull::Oldest(10));
        assert_eq!(b.cull(33), Cull::Oldest(11));
        assert_eq!(bounds(30, 1).cull(30), Cull::Oldest(30));
        assert_eq!(bounds(30, 0).cull(30), Cull::All);
        assert_eq!(bounds(30, 0).cull(29), Cull::Nothing);
        // A frequency above the entry count culls nothing until `len // cull_frequency` reaches 1.
        assert_eq!(bounds(2, 3).cull(2), Cull::Oldest(0));
        assert_eq!(bounds(2, 3).cull(3), Cull::Oldest(1));
    }
}
