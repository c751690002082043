//! The report as a picture: latency over time, latency by percentile, and memory in soak mode.
//!
//! The SVG is written by hand. The plots are three line charts with linear axes; a plotting
//! crate would bring its own dependency tree (and build time on a 2-core CI) for what is a
//! few hundred bytes of `<polyline>` per line, and hand-written output is stable text that a
//! test can check and a diff can read.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::record::IntervalLatency;
use crate::report::Report;
use crate::soak::Soak;

const WIDTH: f64 = 900.0;
const PANEL_HEIGHT: f64 = 300.0;
const LEFT: f64 = 75.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 50.0;
/// Height of the title line above the first panel.
const HEADER: f64 = 30.0;

/// One line of a chart: a name for the legend, a colour, points in data units (`None` breaks
/// the line).
struct Line {
    name: &'static str,
    colour: &'static str,
    points: Vec<Option<(f64, f64)>>,
}

/// A chart's place on the page and its data ranges.
struct Panel {
    top: f64,
    x_max: f64,
    y_max: f64,
}

impl Panel {
    fn left(&self) -> f64 {
        LEFT
    }
    fn width(&self) -> f64 {
        WIDTH - LEFT - RIGHT
    }
    fn height(&self) -> f64 {
        PANEL_HEIGHT - TOP - BOTTOM
    }
    fn x(&self, value: f64) -> f64 {
        self.left() + value / self.x_max * self.width()
    }
    fn y(&self, value: f64) -> f64 {
        self.top + TOP + self.height() - value / self.y_max * self.height()
    }
}

/// Renders the report's plots.
pub fn svg(report: &Report) -> String {
    let panels = 2 + u8::from(report.soak.is_some());
    let height = PANEL_HEIGHT * f64::from(panels) + HEADER;
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="22" font-size="14" font-weight="bold">{}</text>"#,
        escape(&format!(
            "alice bench: {} at {:.1} req/s ({} sent, {} ok, {} errors, {} dropped)",
            report.config.endpoint,
            report.summary.send_rate,
            report.summary.counts.sent,
            report.summary.counts.ok,
            report.summary.counts.errors,
            report.summary.counts.dropped
        ))
    );
    over_time(&mut out, report, HEADER);
    by_percentile(&mut out, report, HEADER + PANEL_HEIGHT);
    if let Some(soak) = &report.soak {
        memory(&mut out, soak, HEADER + 2.0 * PANEL_HEIGHT);
    }
    out.push_str("</svg>\n");
    out
}

/// Writes [`svg`] to `path`.
pub fn write(report: &Report, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, svg(report))
        .with_context(|| format!("cannot write the plot to {}", path.display()))
}

fn over_time(out: &mut String, report: &Report, top: f64) {
    let step = report.config.interval_s;
    let mid = |t: f64| t + step / 2.0;
    type Pick = fn(&IntervalLatency) -> f64;
    let percentiles: [(&str, &str, Pick); 4] = [
        ("p50", "#1f77b4", |l| l.p50),
        ("p90", "#2ca02c", |l| l.p90),
        ("p99", "#d62728", |l| l.p99),
        ("max", "#aaaaaa", |l| l.max),
    ];
    let lines = percentiles.map(|(name, colour, pick)| Line {
        name,
        colour,
        points: report
            .series
            .iter()
            .map(|p| p.latency_ms.as_ref().map(|l| (mid(p.t_s), pick(l))))
            .collect(),
    });
    let x_max = (report.series.len() as f64 * step).max(report.config.planned_duration_s);
    chart(
        out,
        &Panel {
            top,
            x_max: x_max.max(1e-3),
            y_max: nice_max(max_y(&lines)),
        },
        "Latency over time, by intended send time",
        "seconds from start",
        "latency (ms)",
        &lines,
        &axis_ticks(x_max),
    );
}

fn by_percentile(out: &mut String, report: &Report, top: f64) {
    // x is the number of nines: 0 → 0 %, 1 → 90 %, 2 → 99 %, 3 → 99.9 %.
    let nines = |p: f64| {
        let rest = 1.0 - p / 100.0;
        if rest <= 0.0 {
            None
        } else {
            Some(-rest.log10())
        }
    };
    let distribution = &report.latency_distribution;
    let last_finite = distribution
        .iter()
        .filter_map(|p| nines(p.percentile))
        .fold(0.0, f64::max);
    // The maximum (100 %) is drawn half a decade past the last finite percentile.
    let x_max = (last_finite + 0.5).max(1.0);
    let points = distribution
        .iter()
        .map(|p| Some((nines(p.percentile).unwrap_or(x_max), p.latency_ms)))
        .collect();
    let lines = [Line {
        name: "latency",
        colour: "#1f77b4",
        points,
    }];
    let ticks: Vec<(f64, String)> = (0..=x_max.floor() as u32)
        .map(|n| {
            let label = match n {
                0 => "0%".to_owned(),
                1 => "90%".to_owned(),
                2 => "99%".to_owned(),
                n => format!("99.{}%", "9".repeat(n as usize - 2)),
            };
            (f64::from(n), label)
        })
        .collect();
    chart(
        out,
        &Panel {
            top,
            x_max,
            y_max: nice_max(max_y(&lines)),
        },
        "Latency by percentile (whole run; the last point is the maximum)",
        "percentile",
        "latency (ms)",
        &lines,
        &ticks,
    );
}

fn memory(out: &mut String, soak: &Soak, top: f64) {
    let points: Vec<Option<(f64, f64)>> = soak
        .samples
        .iter()
        .map(|s| s.rss_mib.map(|r| (s.t_s, r)))
        .collect();
    let x_max = soak
        .samples
        .iter()
        .map(|s| s.t_s)
        .fold(soak.load_end_s, f64::max)
        .max(1e-3);
    let lines = [Line {
        name: "RSS",
        colour: "#9467bd",
        points,
    }];
    let panel = Panel {
        top,
        x_max,
        y_max: nice_max(max_y(&lines)),
    };
    chart(
        out,
        &panel,
        &format!(
            "Target memory ({}); the dashed line is the end of the load",
            soak.source
        ),
        "seconds from start",
        "RSS (MiB)",
        &lines,
        &axis_ticks(x_max),
    );
    let x = panel.x(soak.load_end_s);
    let _ = writeln!(
        out,
        r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#555" stroke-dasharray="5,4"/>"##,
        panel.y(panel.y_max),
        panel.y(0.0)
    );
}

fn max_y(lines: &[Line]) -> f64 {
    lines
        .iter()
        .flat_map(|l| l.points.iter().flatten())
        .map(|p| p.1)
        .fold(0.0, f64::max)
}

/// A round number at or above `value`, so the y axis ends on a tick.
fn nice_max(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let step = nice_step(value);
    (value / step).ceil() * step
}

/// A 1-2-5 step giving about five ticks up to `value`.
fn nice_step(value: f64) -> f64 {
    let rough = value / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let fraction = rough / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn axis_ticks(max: f64) -> Vec<(f64, String)> {
    let step = nice_step(max.max(1e-3));
    (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|v| *v <= max + step * 1e-9)
        .map(|v| (v, number(v)))
        .collect()
}

fn number(value: f64) -> String {
    if value == value.trunc() {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').to_owned()
    }
}

fn chart(
    out: &mut String,
    panel: &Panel,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
    x_ticks: &[(f64, String)],
) {
    let (left, right) = (panel.left(), panel.left() + panel.width());
    let (top, bottom) = (panel.y(panel.y_max), panel.y(0.0));
    let _ = writeln!(
        out,
        r#"<text x="{left}" y="{:.1}" font-size="13" font-weight="bold">{}</text>"#,
        top - 12.0,
        escape(title)
    );
    let _ = writeln!(
        out,
        r##"<rect x="{left}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#333"/>"##,
        panel.width(),
        panel.height()
    );
    for (value, label) in axis_ticks(panel.y_max) {
        let y = panel.y(value);
        let _ = writeln!(
            out,
            r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
            left - 6.0,
            y + 4.0
        );
    }
    for (value, label) in x_ticks {
        let x = panel.x(*value);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{bottom:.1}" x2="{x:.1}" y2="{:.1}" stroke="#333"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 5.0,
            bottom + 18.0,
            escape(label)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (left + right) / 2.0,
        bottom + 36.0,
        escape(x_label)
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        left - 52.0,
        (top + bottom) / 2.0,
        escape(y_label)
    );
    for (index, line) in lines.iter().enumerate() {
        for run in line.points.split(Option::is_none) {
            let pixels: Vec<(f64, f64)> = run
                .iter()
                .flatten()
                .map(|&(x, y)| (panel.x(x), panel.y(y)))
                .collect();
            match pixels.as_slice() {
                [] => {}
                [(x, y)] => {
                    let _ = writeln!(
                        out,
                        r#"<circle cx="{x:.1}" cy="{y:.1}" r="2" fill="{}"/>"#,
                        line.colour
                    );
                }
                many => {
                    let points: Vec<String> =
                        many.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                    let _ = writeln!(
                        out,
                        r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
                        line.colour,
                        points.join(" ")
                    );
                }
            }
        }
        let y = top + 14.0 + 18.0 * index as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            right + 12.0,
            right + 32.0,
            line.colour,
            right + 38.0,
            y + 4.0,
            line.name
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_maxima_are_round() {
        assert_eq!(nice_step(10.0), 2.0);
        assert_eq!(nice_step(3.0), 1.0);
        assert_eq!(nice_step(240.0), 50.0);
        assert_eq!(nice_max(233.0), 250.0);
        assert_eq!(nice_max(0.0), 1.0);
        let ticks = axis_ticks(3.0);
        assert_eq!(ticks.len(), 4);
        assert_eq!(ticks[3].1, "3");
        assert_eq!(number(0.5), "0.5");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
