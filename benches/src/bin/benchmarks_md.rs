//! Regenerates `BENCHMARKS.md`, its chart and the README's summary from the JSON of a load run.
//!
//! ```text
//! cargo bench --bench load
//! cargo run -p comparisons --bin benchmarks-md            # reads target/load/load.json
//! cargo run -p comparisons --bin benchmarks-md -- FILE    # reads FILE
//! ```
//!
//! Writes `BENCHMARKS.md` (its generated part), `benches/results/load.svg`, `benches/results/load.json`
//! (the run's figures, beside the chart that was drawn from them) and the README's summary block.

use std::path::PathBuf;
use std::process::ExitCode;

use comparisons::{benchmarks_md, chart, output};

fn main() -> ExitCode {
    match regenerate() {
        Ok(written) => {
            for path in written {
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("benchmarks-md: {error}");
            ExitCode::FAILURE
        }
    }
}

fn regenerate() -> Result<Vec<PathBuf>, String> {
    let source = std::env::args_os()
        .nth(1)
        .map_or_else(|| output::directory().join(output::JSON), PathBuf::from);
    let results = output::read(&source)
        .map_err(|error| format!("{error} (run `cargo bench --bench load` first)"))?;
    let root = output::workspace();
    let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap_or_default();
    let json = serde_json::to_string_pretty(&results).map_err(|error| format!("JSON: {error}"))?;
    let files = [
        (benchmarks_md::CHART_PATH, chart::svg(&results)?),
        (benchmarks_md::JSON_PATH, json),
        (
            "BENCHMARKS.md",
            benchmarks_md::benchmarks_md(&results, &read("BENCHMARKS.md")),
        ),
        (
            "README.md",
            benchmarks_md::readme(&results, &read("README.md")),
        ),
    ];
    let mut written = Vec::new();
    for (name, contents) in files {
        let path = root.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
        }
        std::fs::write(&path, contents).map_err(|error| format!("{}: {error}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
