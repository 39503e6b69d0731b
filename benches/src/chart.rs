//! The chart of a run: every configuration's throughput as a multiple of its group's plain handler, one
//! bar each, drawn with plotters as SVG (no font or image library needed to draw it or to view it).

use plotters::coord::ranged1d::{IntoSegmentedCoord as _, SegmentValue};
use plotters::prelude::*;

use crate::results::{library, Results};

/// Pixels per bar.
const BAR_HEIGHT: u32 = 24;
/// Pixels for the title and the x axis.
const FRAME: u32 = 110;
const WIDTH: u32 = 1100;

/// A library's colour: ours stands out, the peers share muted ones.
fn colour(name: &str) -> RGBColor {
    match name {
        library::OURS => RGBColor(12, 75, 51),
        library::TOWER_SESSIONS => RGBColor(150, 110, 60),
        library::AXUM_RESPONSE_CACHE => RGBColor(90, 120, 170),
        library::TOWER_HTTP_CACHE => RGBColor(140, 90, 150),
        library::HITBOX => RGBColor(170, 80, 80),
        _ => RGBColor(120, 120, 120),
    }
}

/// The SVG document of `results`' chart.
///
/// # Errors
///
/// When plotters cannot draw it (a message naming the step).
pub fn svg(results: &Results) -> Result<String, String> {
    let bars: Vec<(String, f64, RGBColor)> = results
        .rows
        .iter()
        .filter_map(|row| {
            let ratio = row.vs_plain?;
            Some((
                format!("{}: {}", row.group, row.label()),
                ratio,
                colour(&row.library),
            ))
        })
        .collect();
    if bars.is_empty() {
        return nothing_to_compare();
    }
    let count = bars.len();
    let widest = bars
        .iter()
        .map(|(_, ratio, _)| *ratio)
        .fold(1.0_f64, f64::max);
    let x_end = (widest * 1.15).max(1.2);
    let height = FRAME + BAR_HEIGHT * count as u32;
    let mut document = String::new();
    {
        let root = SVGBackend::with_string(&mut document, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| format!("background: {e}"))?;
        let title = format!(
            "Requests/s as a multiple of the plain handler ({} on {} cores, {})",
            results.machine.cpu, results.machine.cores, results.date
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(470)
            .build_cartesian_2d(0.0..x_end, (0..count - 1).into_segmented())
            .map_err(|e| format!("axes: {e}"))?;
        // Segments 0..=count-1, one per bar; bar i is drawn in segment count-1-i, so that the table's
        // first row is the chart's top bar.
        let at = |i: usize| count - 1 - i;
        let names: Vec<&str> = bars.iter().map(|(name, _, _)| name.as_str()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(count)
            .y_label_formatter(&|value| match value {
                SegmentValue::CenterOf(row) if *row < count => names
                    .get(count - 1 - row)
                    .copied()
                    .unwrap_or_default()
                    .to_owned(),
                _ => String::new(),
            })
            .x_desc("× the plain handler of the same run (1 = no cost)")
            .draw()
            .map_err(|e| format!("mesh: {e}"))?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, ratio, colour))| {
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(at(i))),
                        (*ratio, SegmentValue::Exact(at(i) + 1)),
                    ],
                    colour.filled(),
                );
                bar.set_margin(3, 3, 0, 0);
                bar
            }))
            .map_err(|e| format!("bars: {e}"))?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, ratio, _))| {
                Text::new(
                    format!("{ratio:.2}×"),
                    (*ratio + x_end * 0.005, SegmentValue::CenterOf(at(i))),
                    ("sans-serif", 12),
                )
            }))
            .map_err(|e| format!("values: {e}"))?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![
                    (1.0, SegmentValue::Exact(0)),
                    (1.0, SegmentValue::Exact(count)),
                ],
                BLACK.stroke_width(1),
            )))
            .map_err(|e| format!("the plain line: {e}"))?;
        root.present().map_err(|e| format!("document: {e}"))?;
    }
    Ok(document)
}

/// The chart of a run that measured no configuration beside a plain handler (a `LOAD_ONLY` run): a note
/// saying so, so that every run still writes all of its outputs.
fn nothing_to_compare() -> Result<String, String> {
    let mut document = String::new();
    {
        let root = SVGBackend::with_string(&mut document, (WIDTH, 60)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| format!("background: {e}"))?;
        root.draw(&Text::new(
            "No configuration beside a plain handler was measured: nothing to compare.",
            (12, 24),
            ("sans-serif", 14),
        ))
        .map_err(|e| format!("note: {e}"))?;
        root.present().map_err(|e| format!("document: {e}"))?;
    }
    Ok(document)
}
