//! Culling: keeping the table near `max_entries`, like Django's database cache.
//!
//! Before a write that adds rows (`set`, `set_many`, `add`), when a check is due:
//!
//! 1. `SELECT COUNT(*)`; nothing to do unless the count exceeds `max_entries`.
//! 2. `cull_frequency == 0`: delete every row (Django's "clear on cull").
//! 3. Otherwise delete the expired rows; if the rest still exceeds `max_entries`, delete the rows that expire
//!    **soonest** (ties broken by key) — `remaining / cull_frequency` of them, as Django does, or more if
//!    that is what it takes to get back to `max_entries` (after a large `set_many`). Django deletes in key
//!    order, which is arbitrary; soonest-to-expire keeps the entries with the most life left, and with one
//!    timeout for everything it is oldest-first. The entry being written is never culled by its own write
//!    (the cull runs first), so the table holds at most `max_entries + 1` rows after a single-entry write.
//!
//! A check is due every `max(1, max_entries / 1000)` writes per backend handle: every write for tables of up
//! to 1000 entries (the count is then cheap), and rarely enough on big tables that the `COUNT(*)` costs
//! little per write, for an overshoot of at most 0.1% per writing process.

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::OpResult;
use super::statements::Statements;
use crate::error::{Error, Result};
use crate::sql::{Bind, Conn};

/// Django's `MAX_ENTRIES` default.
pub const DEFAULT_MAX_ENTRIES: u64 = 300;

/// Django's `CULL_FREQUENCY` default: cull a third.
pub const DEFAULT_CULL_FREQUENCY: u64 = 3;

/// The culling settings of one backend, and its count of writes since the last check.
#[derive(Debug)]
pub(crate) struct Culling {
    max_entries: u64,
    cull_frequency: u64,
    check_every: u64,
    writes: AtomicU64,
}

impl Culling {
    /// [`Error::Config`] when `max_entries` is zero.
    pub(crate) fn new(max_entries: u64, cull_frequency: u64) -> Result<Self> {
        if max_entries == 0 {
            return Err(Error::Config(
                "database cache max_entries must be positive".to_owned(),
            ));
        }
        Ok(Culling {
            max_entries,
            cull_frequency,
            check_every: (max_entries / 1000).max(1),
            writes: AtomicU64::new(0),
        })
    }

    pub(crate) fn max_entries(&self) -> u64 {
        self.max_entries
    }

    pub(crate) fn cull_frequency(&self) -> u64 {
        self.cull_frequency
    }

    /// Counts a write of `rows` rows; true when it crosses a check point (always for a multi-row write).
    fn due(&self, rows: u64) -> bool {
        let before = self.writes.fetch_add(rows, Ordering::Relaxed);
        rows > 1 || before / self.check_every != (before + rows) / self.check_every
    }

    /// Culls if a check is due before writing `rows` rows.
    pub(crate) async fn before_write(
        &self,
        conn: &mut Conn,
        sql: &Statements,
        now: i64,
        rows: u64,
    ) -> OpResult<()> {
        if !self.due(rows) {
            return Ok(());
        }
        let count = conn
            .exec()
            .fetch_optional(&sql.count, &[], |row| row.int(0))
            .await?
            .transpose()?
            .flatten();
        let count = count
            .and_then(|count| u64::try_from(count).ok())
            .unwrap_or(0);
        if count <= self.max_entries {
            return Ok(());
        }
        if self.cull_frequency == 0 {
            conn.exec().execute(&sql.clear, &[], true).await?;
            return Ok(());
        }
        let expired = conn
            .exec()
            .execute(&sql.cull_expired, &[Bind::Int(now)], true)
            .await?;
        let remaining = count.saturating_sub(expired);
        if remaining <= self.max_entries {
            return Ok(());
        }
        let victims = (remaining / self.cull_frequency).max(remaining - self.max_entries);
        conn.exec()
            .execute(
                &sql.cull_soonest,
                &[Bind::Int(i64::try_from(victims).unwrap_or(i64::MAX))],
                true,
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_tables_check_on_every_write() {
        let culling = Culling::new(10, 3).expect("valid");
        assert!((0..5).all(|_| culling.due(1)));
    }

    #[test]
    fn big_tables_check_every_thousandth() {
        let culling = Culling::new(1_000_000, 3).expect("valid");
        let due = (0..5000).filter(|_| culling.due(1)).count();
        assert_eq!(due, 5);
        assert!(culling.due(2), "multi-row writes always check");
    }

    #[test]
    fn zero_max_entries_is_a_config_error() {
        assert!(matches!(Culling::new(0, 3), Err(Error::Config(_))));
    }
}
