//! The load benchmark end to end, small: a few configurations for a fraction of a second each, then every
//! output it writes. What `cargo bench --bench load` does, checked by `cargo test` so that the harness
//! cannot rot between the runs that refresh `BENCHMARKS.md`.

use std::time::Duration;

use comparisons::load::Load;
use comparisons::results::{group, library};
use comparisons::run::{self, Settings};
use comparisons::targets::setup;
use comparisons::{benchmarks_md, chart, output, table, targets};

#[test]
fn a_small_run_measures_every_selected_configuration_and_writes_every_output() {
    let settings = Settings {
        load: Load {
            connections: 4,
            warm_up: Duration::from_millis(50),
            duration: Duration::from_millis(200),
        },
        rounds: 2,
        sessions: 8,
        flight_requests: 20,
        only: vec![
            "page: plain".to_owned(),
            "page: tower-django · memory".to_owned(),
            "page: axum-response-cache".to_owned(),
            "session write: plain".to_owned(),
            // Also selects "memory, CacheStore", ours before `MemoryStore`.
            "session write: tower-django · memory".to_owned(),
            "session write: tower-sessions 0.14 · memory".to_owned(),
        ],
        redis_url: None,
    };
    let results = run::run(&settings).unwrap_or_else(|error| panic!("run: {error}"));

    // Every selected configuration ran every round, answered only 200s, and has a ratio to its plain.
    let expected = [
        (group::PAGE, "", library::PLAIN),
        (group::PAGE, setup::MEMORY, library::OURS),
        (group::PAGE, setup::MEMORY_TAGGED, library::OURS),
        (group::PAGE, setup::MEMORY, library::AXUM_RESPONSE_CACHE),
        (group::SESSION_WRITE, "", library::PLAIN),
        (group::SESSION_WRITE, setup::MEMORY, library::OURS),
        (group::SESSION_WRITE, setup::MEMORY, library::TOWER_SESSIONS),
        (
            group::SESSION_WRITE,
            setup::MEMORY_CACHE_STORE,
            library::OURS,
        ),
    ];
    assert_eq!(results.rows.len(), expected.len(), "{:#?}", results.rows);
    for (group, setup, library) in expected {
        let row = results
            .row(group, setup, library)
            .unwrap_or_else(|| panic!("no row {group} {library} {setup}"));
        assert_eq!(row.rates.len(), 2, "{row:?}");
        assert_eq!(row.errors, 0, "{row:?}");
        assert!(row.rate > 0.0, "{row:?}");
        assert!(row.p50_us > 0.0 && row.p99_us >= row.p50_us, "{row:?}");
        assert_eq!(row.vs_plain.is_none(), row.is_plain(), "{row:?}");
    }

    // Cold flights: the plain handler renders for every request, our cache once (it coalesces, or the
    // later requests hit the stored page), axum-response-cache for whichever arrived before the store.
    let renders = |library: &str, setup: &str| {
        let flight = results
            .flights
            .iter()
            .find(|f| f.library == library && f.setup == setup)
            .unwrap_or_else(|| panic!("no flight {library} {setup}"));
        assert_eq!(flight.errors, 0, "{flight:?}");
        flight.renders.clone()
    };
    assert_eq!(renders(library::PLAIN, ""), [20, 20]);
    assert_eq!(renders(library::OURS, setup::MEMORY), [1, 1]);
    assert!(renders(library::AXUM_RESPONSE_CACHE, setup::MEMORY)
        .iter()
        .all(|&n| (1..=20).contains(&n)));

    // The outputs: JSON that reads back the same, tables, a chart, BENCHMARKS.md and the README block.
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temporary directory: {error}"));
    let written = output::write(&results, dir.path()).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(written.len(), 3);
    let back =
        output::read(&dir.path().join(output::JSON)).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(back.rows.len(), results.rows.len());
    assert_eq!(back.rows[1].rate, results.rows[1].rate);

    let tables = table::all(&results);
    assert!(
        tables.contains("| page | tower-django · memory |"),
        "{tables}"
    );
    assert!(tables.contains("| session write | memory |"), "{tables}");
    assert!(
        tables.contains(&format!("| {} |", setup::MEMORY_CACHE_STORE)),
        "ours beside the store it replaced: {tables}"
    );
    let svg = chart::svg(&results).unwrap_or_else(|error| panic!("chart: {error}"));
    assert!(svg.starts_with("<svg") && svg.contains("session write: tower-django · memory"));

    let checks = targets::checks(&results);
    let measured: Vec<_> = checks.iter().filter(|c| c.met.is_some()).collect();
    // Memory write against tower-sessions and against plain, the tag cost, and the run's time.
    assert_eq!(measured.len(), 4, "{measured:#?}");

    let previous = format!("old\n{}\n\nhand-written notes\n", benchmarks_md::END_MARKER);
    let page = benchmarks_md::benchmarks_md(&results, &previous);
    assert!(page.starts_with("# Benchmarks"));
    assert!(page.ends_with("hand-written notes\n"), "{page}");
    assert_eq!(page.matches(benchmarks_md::END_MARKER).count(), 1);
    assert!(page.contains(benchmarks_md::CHART_PATH));

    let readme = format!(
        "intro\n{}\nstale\n{}\noutro\n",
        benchmarks_md::SUMMARY_START,
        benchmarks_md::SUMMARY_END
    );
    let renewed = benchmarks_md::readme(&results, &readme);
    assert!(renewed.starts_with("intro\n") && renewed.ends_with("\noutro\n"));
    assert!(!renewed.contains("stale"));
    assert_eq!(renewed.matches("\n- **").count(), 5, "{renewed}");
}
