//! Where a run's figures go: `target/load/` (JSON with every figure, the Markdown tables, the SVG chart),
//! and, by `cargo run -p comparisons --bin benchmarks-md`, `BENCHMARKS.md` and the README's summary.

use std::path::{Path, PathBuf};

use crate::results::Results;
use crate::{chart, table};

/// The JSON file's name in [`directory`].
pub const JSON: &str = "load.json";
/// The chart's name in [`directory`] and in `benches/results/`.
pub const SVG: &str = "load.svg";
/// The tables' name in [`directory`].
pub const MARKDOWN: &str = "load.md";

/// `target/load/` of this build: the target directory is found from the running executable
/// (`target/<profile>/…`, benches one level deeper in `deps/`), so `CARGO_TARGET_DIR` is honoured.
pub fn directory() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let target = exe
        .ancestors()
        .find(|dir| {
            dir.file_name()
                .is_some_and(|name| name == "release" || name == "debug")
        })
        .and_then(Path::parent)
        .map_or_else(|| workspace().join("target"), Path::to_path_buf);
    target.join("load")
}

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Writes `results` as JSON, its tables as Markdown and its chart as SVG into `dir` (made when missing);
/// returns the paths written.
///
/// # Errors
///
/// When a file cannot be written or the chart cannot be drawn.
pub fn write(results: &Results, dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    let json = serde_json::to_string_pretty(results).map_err(|error| format!("JSON: {error}"))?;
    let files = [
        (JSON, json),
        (MARKDOWN, table::all(results)),
        (SVG, chart::svg(results)?),
    ];
    let mut written = Vec::new();
    for (name, contents) in files {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(|error| format!("{}: {error}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Reads a run's JSON.
///
/// # Errors
///
/// When the file cannot be read or is not a run's JSON.
pub fn read(path: &Path) -> Result<Results, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}
