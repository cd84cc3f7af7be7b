//! The SVG charts, drawn with plotters' SVG backend from results.json's
//! figures: requests per second and server CPU per request against the
//! reference, latency percentiles, cookie bytes against stored data, and
//! cost against stored sessions.
//! Text is left to the SVG viewer's fonts, so nothing here needs a font file.

use anyhow::anyhow;
use plotters::{
    coord::{Shift, ranged1d::ValueFormatter, types::RangedCoordf64},
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use crate::{
    glance,
    results::{Results, ScenarioResult, median},
    tables::thousands,
};

#[derive(Debug, Clone)]
pub struct Chart {
    /// The file's name without `.svg`.
    pub name: &'static str,
    pub svg: String,
}

pub fn all(results: &Results) -> anyhow::Result<Vec<Chart>> {
    Ok(vec![
        Chart {
            name: "throughput",
            svg: throughput(results)?,
        },
        Chart {
            name: "cpu_ratio",
            svg: cpu_ratio(results)?,
        },
        Chart {
            name: "latency",
            svg: latency(results)?,
        },
        Chart {
            name: "cookie_bytes",
            svg: cookie_bytes(results)?,
        },
        Chart {
            name: "scaling",
            svg: scaling(results)?,
        },
        Chart {
            name: "cpu_per_request",
            svg: cpu_per_request(results)?,
        },
    ])
}

/// The glance's CPU per returning visitor: the hot loop beside the
/// population, per mechanism, so that the best case is never read alone.
fn cpu_per_request(results: &Results) -> anyhow::Result<String> {
    let title = "Server CPU per returning visitor (µs): hot loop and population";
    let rows: Vec<&str> = glance::ROWS
        .into_iter()
        .filter(|name| glance::cpu(results, name, glance::RETURNING).is_some())
        .collect();
    if rows.is_empty() {
        return empty(title, "No mechanism was measured in this run.");
    }
    let values = rows
        .iter()
        .map(|name| {
            vec![
                glance::cpu(results, name, glance::RETURNING),
                glance::cpu(results, name, glance::POPULATION),
            ]
        })
        .collect();
    let reference = results
        .throughput
        .iter()
        .find(|result| result.scenario == "reference_a_a")
        .map(|result| result.median_reference_cpu_us_per_request)
        .filter(|value| value.is_finite());
    horizontal_bars(&Bars {
        title,
        x_description: "server CPU µs per request (median of rounds; no bar: not measured in this run)",
        rows: rows.iter().map(|name| (*name).to_owned()).collect(),
        series: vec![
            format!(
                "hot loop ({} visitors)",
                thousands(results.settings.returning_visitors as u64)
            ),
            format!(
                "population (up to {})",
                thousands(results.settings.population)
            ),
        ],
        values,
        log_scale: false,
        marker: reference.map(|at| (at, "reference page")),
        value_format: |value| format!("{value:.0}"),
    })
}

const WIDTH: u32 = 960;
const FONT: &str = "sans-serif";
/// Colour-blind-safe (Okabe–Ito).
const COLOURS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

fn colour(index: usize) -> RGBColor {
    COLOURS[index % COLOURS.len()]
}

fn plot_error(err: impl std::fmt::Debug) -> anyhow::Error {
    anyhow!("drawing a chart failed: {err:?}")
}

/// A chart that says there is nothing to show, rather than no file.
fn empty(title: &str, why: &str) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 200)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        root.draw(&Text::new(title.to_owned(), (20, 40), (FONT, 22)))
            .map_err(plot_error)?;
        root.draw(&Text::new(why.to_owned(), (20, 100), (FONT, 16)))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// One group of horizontal bars per row, one bar per series, with the row
/// names drawn left of the plot. `values[row][series]`; `None` draws no bar.
struct Bars<'a> {
    title: &'a str,
    x_description: &'a str,
    rows: Vec<String>,
    series: Vec<String>,
    values: Vec<Vec<Option<f64>>>,
    log_scale: bool,
    /// A vertical line and its legend label, e.g. the reference at 1.0.
    marker: Option<(f64, &'a str)>,
    value_format: fn(f64) -> String,
}

fn horizontal_bars(bars: &Bars<'_>) -> anyhow::Result<String> {
    let rows = bars.rows.len();
    let series = bars.series.len().max(1);
    let height = 140 + u32::try_from(rows * (series * 14 + 14)).unwrap_or(2000);
    let largest = bars
        .values
        .iter()
        .flatten()
        .flatten()
        .copied()
        .filter(|value| value.is_finite())
        .fold(bars.marker.map_or(0.0, |(at, _)| at), f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let y_range = 0.0..rows as f64;
        if bars.log_scale {
            // Room on the right for the legend.
            let x_range = (1.0..(largest * 30.0).max(100.0)).log_scale();
            let chart = ChartBuilder::on(&root)
                .caption(bars.title, (FONT, 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(190)
                .build_cartesian_2d(x_range, y_range)
                .map_err(plot_error)?;
            draw_bars(chart, &root, bars, 1.0)?;
        } else {
            let chart = ChartBuilder::on(&root)
                .caption(bars.title, (FONT, 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(190)
                // Room on the right for the legend.
                .build_cartesian_2d(0.0..largest * 2.0, y_range)
                .map_err(plot_error)?;
            draw_bars(chart, &root, bars, 0.0)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn draw_bars<'a, X>(
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, RangedCoordf64>>,
    root: &DrawingArea<SVGBackend<'a>, Shift>,
    bars: &Bars<'_>,
    origin: f64,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(&|value| (bars.value_format)(*value))
        .x_desc(bars.x_description)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(plot_error)?;
    let rows = bars.rows.len();
    let series = bars.series.len().max(1);
    let band = 0.8 / series as f64;
    for (index, name) in bars.series.iter().enumerate() {
        let colour = colour(index);
        let rectangles = bars.values.iter().enumerate().filter_map(|(row, values)| {
            let value = values.get(index).copied().flatten()?;
            let top = bar_top(rows, row, index, band);
            Some(Rectangle::new(
                [(origin, top), (value, top - band * 0.9)],
                colour.filled(),
            ))
        });
        chart
            .draw_series(rectangles)
            .map_err(plot_error)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
        let labels = bars.values.iter().enumerate().filter_map(|(row, values)| {
            let value = values.get(index).copied().flatten()?;
            let middle = bar_top(rows, row, index, band) - band * 0.45;
            Some(Text::new(
                format!(" {}", (bars.value_format)(value)),
                (value, middle),
                TextStyle::from((FONT, 13)).pos(Pos::new(HPos::Left, VPos::Center)),
            ))
        });
        chart.draw_series(labels).map_err(plot_error)?;
    }
    if let Some((at, label)) = bars.marker {
        chart
            .draw_series(LineSeries::new(
                [(at, 0.0), (at, bars.rows.len() as f64)],
                BLACK.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(label)
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], BLACK.stroke_width(2)));
    }
    for (row, name) in bars.rows.iter().enumerate() {
        let middle = (rows - 1 - row) as f64 + 0.5;
        let (x, y) = chart.backend_coord(&(origin.max(chart.x_range().start), middle));
        root.draw(&Text::new(
            name.clone(),
            (x - 8, y),
            TextStyle::from((FONT, 13)).pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// Where the bar of `series` in `row` starts, from the top: the first row
/// and the first series on top, as the tables list them.
fn bar_top(rows: usize, row: usize, series: usize, band: f64) -> f64 {
    (rows - row) as f64 - 0.1 - band * series as f64
}

/// Configurations in the order they were measured, each once.
fn configurations(results: &[ScenarioResult]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for result in results {
        if !names.contains(&result.configuration) {
            names.push(result.configuration.clone());
        }
    }
    names
}

const SCENARIOS: [(&str, &str); 5] = [
    ("reference_a_a", "the reference itself (A/A check)"),
    ("get_session_returning", "get_session, returning visitor"),
    (
        "get_session_first_sight",
        "get_session, token never seen before",
    ),
    ("get_session_new_visitor", "get_session, new visitor"),
    ("set_session", "set_session, new login"),
];

/// `pick(result)` for every configuration (rows) and scenario (series).
fn by_scenario(
    results: &Results,
    pick: fn(&ScenarioResult) -> f64,
) -> (Vec<String>, Vec<Vec<Option<f64>>>) {
    let rows = configurations(&results.throughput);
    let values = rows
        .iter()
        .map(|configuration| {
            SCENARIOS
                .iter()
                .map(|(scenario, _)| {
                    results
                        .throughput
                        .iter()
                        .find(|r| &r.configuration == configuration && r.scenario == *scenario)
                        .map(pick)
                        .filter(|ratio| ratio.is_finite())
                })
                .collect()
        })
        .collect();
    (rows, values)
}

fn ratio_bars(
    results: &Results,
    title: &str,
    x_description: &str,
    pick: fn(&ScenarioResult) -> f64,
) -> anyhow::Result<String> {
    let (rows, values) = by_scenario(results, pick);
    if rows.is_empty() {
        return empty(title, "No configuration was measured in this run.");
    }
    horizontal_bars(&Bars {
        title,
        x_description,
        rows,
        series: SCENARIOS
            .iter()
            .map(|(_, label)| (*label).to_owned())
            .collect(),
        values,
        log_scale: false,
        marker: Some((1.0, "stateless reference = 1.0")),
        value_format: |value| format!("{value:.2}"),
    })
}

fn throughput(results: &Results) -> anyhow::Result<String> {
    ratio_bars(
        results,
        "Requests per second as a ratio to the stateless reference (median of rounds)",
        "requests/s ÷ reference requests/s (1.0 = the session costs nothing)",
        |result| result.median_ratio,
    )
}

fn cpu_ratio(results: &Results) -> anyhow::Result<String> {
    ratio_bars(
        results,
        "Server CPU per request: reference ÷ configuration (median of rounds)",
        "reference CPU µs per request ÷ configuration CPU µs per request (1.0 = as cheap)",
        |result| result.median_cpu_ratio,
    )
}

fn latency(results: &Results) -> anyhow::Result<String> {
    let title = "Latency of get_session for a returning visitor (µs, log scale)";
    let returning: Vec<&ScenarioResult> = results
        .throughput
        .iter()
        .filter(|result| result.scenario == "get_session_returning")
        .collect();
    if returning.is_empty() {
        return empty(title, "No configuration was measured in this run.");
    }
    let mut rows: Vec<String> = returning.iter().map(|r| r.configuration.clone()).collect();
    let mut values: Vec<Vec<Option<f64>>> = returning
        .iter()
        .map(|r| {
            vec![
                Some(r.latency.p50_us as f64),
                Some(r.latency.p99_us as f64),
                Some(r.latency.p999_us as f64),
            ]
        })
        .collect();
    let reference = |pick: fn(&ScenarioResult) -> u64| {
        Some(median(
            &returning.iter().map(|r| pick(r) as f64).collect::<Vec<_>>(),
        ))
    };
    rows.push("reference (median)".to_owned());
    values.push(vec![
        reference(|r| r.reference_latency.p50_us),
        reference(|r| r.reference_latency.p99_us),
        reference(|r| r.reference_latency.p999_us),
    ]);
    horizontal_bars(&Bars {
        title,
        x_description: "microseconds from request to whole response",
        rows,
        series: vec!["p50".into(), "p99".into(), "p99.9".into()],
        values,
        log_scale: true,
        marker: None,
        value_format: |value| format!("{value:.0}"),
    })
}

/// A line per series over numeric x values.
struct Lines<'a> {
    title: &'a str,
    x_description: &'a str,
    y_description: &'a str,
    series: Vec<(String, Vec<(f64, f64)>)>,
    log_x: bool,
    y_from_zero: bool,
}

fn lines(chart_lines: &Lines<'_>) -> anyhow::Result<String> {
    let points = || {
        chart_lines
            .series
            .iter()
            .flat_map(|(_, points)| points.iter())
    };
    let (x_min, x_max) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (x, _)| {
        (lo.min(*x), hi.max(*x))
    });
    let (y_min, y_max) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, y)| {
        (lo.min(*y), hi.max(*y))
    });
    let y_range = if chart_lines.y_from_zero {
        0.0
    } else {
        y_min * 0.9
    }..(y_max * 1.15).max(1e-9);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let builder = |root| {
            let mut builder = ChartBuilder::on(root);
            builder
                .caption(chart_lines.title, (FONT, 20))
                .margin(14)
                .x_label_area_size(44)
                .y_label_area_size(70);
            builder
        };
        if chart_lines.log_x {
            let x_range = (x_min * 0.7..x_max * 1.4).log_scale();
            let chart = builder(&root)
                .build_cartesian_2d(x_range, y_range)
                .map_err(plot_error)?;
            draw_lines(chart, chart_lines)?;
        } else {
            let margin = (x_max - x_min).max(1.0) * 0.05;
            let chart = builder(&root)
                .build_cartesian_2d(x_min - margin..x_max + margin, y_range)
                .map_err(plot_error)?;
            draw_lines(chart, chart_lines)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn draw_lines<'a, X>(
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, RangedCoordf64>>,
    chart_lines: &Lines<'_>,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_label_formatter(&|value| compact(*value))
        .y_label_formatter(&|value| compact(*value))
        .x_desc(chart_lines.x_description)
        .y_desc(chart_lines.y_description)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(plot_error)?;
    for (index, (name, points)) in chart_lines.series.iter().enumerate() {
        let colour = colour(index);
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2)));
        chart
            .draw_series(
                points
                    .iter()
                    .map(|point| Circle::new(*point, 4, colour.filled())),
            )
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// Axis numbers without needless decimals: 0.25, 1.5, 200, 100k, 1M.
fn compact(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 && (value / 1e6).fract() == 0.0 {
        format!("{}M", value / 1e6)
    } else if magnitude >= 1e3 && (value / 1e3).fract() == 0.0 {
        format!("{}k", value / 1e3)
    } else if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{}", (value * 100.0).round() / 100.0)
    }
}

fn cookie_bytes(results: &Results) -> anyhow::Result<String> {
    let title = "Cookie size as the stored username grows";
    // A session id is the same size whatever the store: one line for all.
    let first_server = results
        .cookie_bytes
        .iter()
        .find(|row| row.configuration.starts_with("server-"))
        .map(|row| row.configuration.as_str());
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for row in &results.cookie_bytes {
        let name = if row.configuration.starts_with("server-") {
            if Some(row.configuration.as_str()) != first_server {
                continue;
            }
            "server (every store)".to_owned()
        } else {
            row.configuration.clone()
        };
        let point = (row.username_bytes as f64, row.cookie_value_bytes as f64);
        match series.iter_mut().find(|(existing, _)| *existing == name) {
            Some((_, points)) => points.push(point),
            None => series.push((name, vec![point])),
        }
    }
    if series.is_empty() {
        return empty(title, "No configuration was measured in this run.");
    }
    lines(&Lines {
        title,
        x_description: "username stored, bytes (8, 64, 150 characters; 150 four-byte characters)",
        y_description: "cookie value, bytes",
        series,
        log_x: false,
        y_from_zero: true,
    })
}

fn scaling(results: &Results) -> anyhow::Result<String> {
    let title =
        "get_session of a returning visitor against stored sessions (ratio to the reference)";
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for point in &results.scaling {
        let xy = (point.sessions as f64, point.measurement.median_ratio);
        if !xy.1.is_finite() {
            continue;
        }
        match series
            .iter_mut()
            .find(|(name, _)| *name == point.configuration)
        {
            Some((_, points)) => points.push(xy),
            None => series.push((point.configuration.clone(), vec![xy])),
        }
    }
    if series.is_empty() {
        return empty(
            title,
            "Not measured in this run: no configuration with a store that can be filled beforehand.",
        );
    }
    lines(&Lines {
        title,
        x_description: "stored sessions (log scale)",
        y_description: "requests/s ÷ reference requests/s",
        series,
        log_x: true,
        y_from_zero: true,
    })
}
