//! Every layer over HTTP, beside a plain axum handler and the peer crates, in one run:
//!
//! ```text
//! cargo bench --bench load
//! TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench --bench load
//! LOAD_SECONDS=1 LOAD_ROUNDS=5 LOAD_ONLY="session write" cargo bench --bench load
//! LOAD_ONLY="session read: plain,=session read: tower-django · Redis, CacheStore" cargo bench --bench load
//! ```
//!
//! Prints the tables (Markdown) on stdout and progress on stderr; writes `target/load/load.json` (every
//! figure), `load.md` and `load.svg` (the chart). `cargo run -p comparisons --bin benchmarks-md` then
//! regenerates `BENCHMARKS.md` from the JSON. What is measured and how: `comparisons::run`. Settings:
//! `comparisons::run::Settings::from_env`. The Redis configurations are skipped, with a note, when
//! `TEST_REDIS_URL` is unset.

use std::process::ExitCode;

use comparisons::{output, run, table};

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; a filter or other flags mean nothing here.
    let outcome = run::Settings::from_env().and_then(|settings| run::run(&settings));
    let results = match outcome {
        Ok(results) => results,
        Err(error) => {
            eprintln!("load: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", table::all(&results));
    match output::write(&results, &output::directory()) {
        Ok(written) => {
            for path in written {
                eprintln!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("load: {error}");
            ExitCode::FAILURE
        }
    }
}
