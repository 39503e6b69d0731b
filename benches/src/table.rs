//! The Markdown tables of a run: every configuration, sessions side by side, cold flights, targets. The
//! bench prints them and `BENCHMARKS.md` embeds them, from the same functions.

use std::fmt::Write as _;

use crate::results::{group, library, peer_store, Results, Row};
use crate::targets::{self, setup};

/// Every table, one after the other.
pub fn all(results: &Results) -> String {
    let mut out = String::new();
    out.push_str(&configurations(results));
    out.push('\n');
    out.push_str(&sessions_side_by_side(results));
    out.push('\n');
    out.push_str(&sessions_then_and_now(results));
    out.push('\n');
    out.push_str(&flights(results));
    out.push('\n');
    out.push_str(&target_checks(results));
    if !results.notes.is_empty() {
        out.push('\n');
        for note in &results.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

/// One line per configuration: throughput, its ratio to the group's plain handler, latency, errors.
pub fn configurations(results: &Results) -> String {
    let mut out = String::from(
        "| group | configuration | req/s | × plain | p50 µs | p99 µs | errors |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for row in &results.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {:.0} | {:.0} | {} |",
            row.group,
            row.label(),
            row.rate,
            row.vs_plain
                .map_or_else(|| "1".to_owned(), |ratio| format!("{ratio:.2}")),
            row.p50_us,
            row.p99_us,
            errors(row),
        );
    }
    out
}

fn errors(row: &Row) -> String {
    match (&row.first_error, row.errors) {
        (Some(first), n) if n > 0 => format!("{n} (first: {})", first.replace('|', "/")),
        (_, n) => n.to_string(),
    }
}

/// Ours beside tower-sessions, per case and store.
pub fn sessions_side_by_side(results: &Results) -> String {
    let mut out = String::from(
        "| case | store | ours req/s | tower-sessions req/s | ours / tower-sessions |\n|---|---|---:|---:|---:|\n",
    );
    for case in [
        group::SESSION_WRITE,
        group::SESSION_HOT,
        group::SESSION_READ,
    ] {
        for store in setup::SESSION_STORES {
            let ours = results.row(case, store, library::OURS);
            let theirs = results.row(case, peer_store(store), library::TOWER_SESSIONS);
            if ours.is_none() && theirs.is_none() {
                continue;
            }
            let rate = |row: Option<&Row>| {
                row.map_or_else(|| "–".to_owned(), |r| format!("{:.0}", r.rate))
            };
            let ratio = results
                .vs_tower_sessions(case, store)
                .map_or_else(|| "–".to_owned(), |ratio| format!("**{ratio:.2}×**"));
            let _ = writeln!(
                out,
                "| {case} | {store} | {} | {} | {ratio} |",
                rate(ours),
                rate(theirs)
            );
        }
    }
    out
}

/// Our session stores beside the ones they replaced (`CacheStore`, when #14 was filed), per case.
pub fn sessions_then_and_now(results: &Results) -> String {
    let mut out = String::from(
        "| case | store | ours req/s | store replaced | its req/s | ours / replaced |\n|---|---|---:|---|---:|---:|\n",
    );
    for case in [
        group::SESSION_WRITE,
        group::SESSION_HOT,
        group::SESSION_READ,
    ] {
        for (store, replaced) in setup::REPLACEMENTS {
            let now = results.row(case, store, library::OURS);
            let then = results.row(case, replaced, library::OURS);
            let (Some(now), Some(then)) = (now, then) else {
                continue;
            };
            let ratio = results
                .ratio(case, (store, library::OURS), (replaced, library::OURS))
                .map_or_else(|| "–".to_owned(), |ratio| format!("**{ratio:.2}×**"));
            let _ = writeln!(
                out,
                "| {case} | {store} | {:.0} | {replaced} | {:.0} | {ratio} |",
                now.rate, then.rate
            );
        }
    }
    out
}

/// How many of a cold flight's concurrent requests reached the handler.
pub fn flights(results: &Results) -> String {
    let mut out = format!(
        "| {} concurrent requests for one uncached page | handler runs (median) | per round | errors |\n|---|---:|---|---:|\n",
        results.settings.flight_requests
    );
    for flight in &results.flights {
        let rounds: Vec<String> = flight.renders.iter().map(u64::to_string).collect();
        let label = if flight.setup.is_empty() {
            flight.library.clone()
        } else {
            format!("{} · {}", flight.library, flight.setup)
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} |",
            flight.median_renders(),
            rounds.join(", "),
            flight.errors
        );
    }
    out
}

/// The stated targets, each marked met or missed.
pub fn target_checks(results: &Results) -> String {
    let mut out = String::from("| issue | target | measured | |\n|---|---|---:|---|\n");
    for check in targets::checks(results) {
        let verdict = match check.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "not measured",
        };
        let _ = writeln!(
            out,
            "| #{} | {} | {} | {verdict} |",
            check.issue, check.target, check.shown
        );
    }
    out
}
