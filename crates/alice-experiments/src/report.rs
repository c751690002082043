//! What an experiment's outcomes say: per variant the counts, rates, percentiles and feedback
//! with its interval, and per variant against the control the tests and a verdict in plain
//! words. A pure function over rows the caller loaded (the store's, for `alice experiment
//! report` and `GET /api/experiments/NAME`), so it is tested on made-up rows alone.

use crate::assign::control;
use crate::guard::{GuardTrip, guard};
use crate::stats::{Interval, TestResult, mann_whitney, percentile, two_proportion, wilson};
use alice_core::config::ExperimentConfig;
use serde::{Deserialize, Serialize};

/// A difference counts as larger than the noise below this p-value.
pub const SIGNIFICANCE: f64 = 0.05;

/// Fewest values on each side before two variants are compared on something: below it the
/// verdict says "too few" and no test is run.
pub const MIN_VALUES: usize = 10;

/// How a request of the experiment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// An answer reached the user.
    Answered,
    /// It failed (a backend error, a timeout, a broken stream).
    Error,
    /// Alice turned it away under load (the Guardian, a full queue).
    Shed,
}

/// A user's thumbs on an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    Up,
    Down,
}

/// One request of the experiment, as the report needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRow {
    /// The variant's name.
    pub variant: String,
    pub outcome: Outcome,
    /// From the request to the answer's end; read for answered rows only.
    pub latency_ms: Option<u64>,
    /// From the request to the first token; read for answered rows only.
    pub ttft_ms: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// The user's rating of the answer, if they gave one.
    pub feedback: Option<Rating>,
}

/// The median and the 95th percentile, by nearest rank; `None` without values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p50: Option<u64>,
    pub p95: Option<u64>,
}

/// One variant's figures. Rates are shares of `requests`; `feedback_rate` is of `answered`,
/// `share_positive` of `feedback`. A share is `None` when what it is a share of is zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantReport {
    pub name: String,
    /// Whether this is the experiment's control.
    pub control: bool,
    /// False for rows naming a variant the configuration no longer has (renamed or removed).
    pub configured: bool,
    pub requests: u64,
    pub answered: u64,
    pub errors: u64,
    pub shed: u64,
    pub answered_share: Option<f64>,
    pub error_rate: Option<f64>,
    pub shed_rate: Option<f64>,
    /// Of answered requests.
    pub latency_ms: Quantiles,
    /// Time to first token, of answered requests.
    pub ttft_ms: Quantiles,
    /// Of the rows that carry a count.
    pub mean_completion_tokens: Option<f64>,
    /// Ratings given.
    pub feedback: u64,
    /// Ratings that were thumbs up.
    pub positive: u64,
    pub feedback_rate: Option<f64>,
    pub share_positive: Option<f64>,
    /// The Wilson 95 % interval of `share_positive`.
    pub share_positive_95: Option<Interval>,
}

/// One variant against the control. A test is `None` when a side has fewer than
/// [`MIN_VALUES`] values; the verdict then says so.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub variant: String,
    pub control: String,
    /// Mann-Whitney U on the answered requests' latencies (U of the variant).
    pub latency: Option<TestResult>,
    /// Two-proportion z-test on the share of positive ratings (z > 0: the variant's is higher).
    pub feedback: Option<TestResult>,
    /// Two-proportion z-test on the error rate (z > 0: the variant fails more often).
    pub errors: Option<TestResult>,
    /// What the tests say, one sentence each: which is ahead, and whether the difference is
    /// larger than the noise.
    pub verdict: Vec<String>,
}

/// The report of one experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub experiment: String,
    /// The control variant's name.
    pub control: String,
    /// All rows read.
    pub rows: u64,
    /// The configured variants in their order, then any others the rows name.
    pub variants: Vec<VariantReport>,
    /// Every variant but the control, against the control.
    pub comparisons: Vec<Comparison>,
    /// Whether the guard would pause the experiment on these rows.
    pub guard: Option<GuardTrip>,
}

/// The raw values of one variant, gathered from the rows.
#[derive(Default)]
struct Tally {
    requests: u64,
    answered: u64,
    errors: u64,
    shed: u64,
    latencies: Vec<u64>,
    ttfts: Vec<u64>,
    tokens: Vec<u64>,
    feedback: u64,
    positive: u64,
}

impl Tally {
    fn add(&mut self, row: &OutcomeRow) {
        self.requests += 1;
        match row.outcome {
            Outcome::Answered => {
                self.answered += 1;
                self.latencies.extend(row.latency_ms);
                self.ttfts.extend(row.ttft_ms);
            }
            Outcome::Error => self.errors += 1,
            Outcome::Shed => self.shed += 1,
        }
        self.tokens.extend(row.completion_tokens);
        // A rating counts whatever the outcome: a thumbs-down on a broken answer is feedback.
        if let Some(rating) = row.feedback {
            self.feedback += 1;
            if rating == Rating::Up {
                self.positive += 1;
            }
        }
    }

    fn figures(&self, name: &str, is_control: bool, configured: bool) -> VariantReport {
        let share = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
        let quantiles = |values: &[u64]| Quantiles {
            p50: percentile(values, 50.0),
            p95: percentile(values, 95.0),
        };
        VariantReport {
            name: name.to_owned(),
            control: is_control,
            configured,
            requests: self.requests,
            answered: self.answered,
            errors: self.errors,
            shed: self.shed,
            answered_share: share(self.answered, self.requests),
            error_rate: share(self.errors, self.requests),
            shed_rate: share(self.shed, self.requests),
            latency_ms: quantiles(&self.latencies),
            ttft_ms: quantiles(&self.ttfts),
            mean_completion_tokens: (!self.tokens.is_empty())
                .then(|| self.tokens.iter().sum::<u64>() as f64 / self.tokens.len() as f64),
            feedback: self.feedback,
            positive: self.positive,
            feedback_rate: share(self.feedback, self.answered),
            share_positive: share(self.positive, self.feedback),
            share_positive_95: wilson(self.positive, self.feedback),
        }
    }
}

/// The report of `experiment` over `rows` (of any order; rows of other experiments must
/// have been left out by the caller).
pub fn report(experiment: &ExperimentConfig, rows: &[OutcomeRow]) -> Report {
    let control_name = control(experiment).name.clone();
    // Configured variants first, in order; then unknown names as the rows bring them.
    let mut names: Vec<(String, bool)> = experiment
        .variants
        .iter()
        .map(|v| (v.name.clone(), true))
        .collect();
    let mut tallies: Vec<Tally> = names.iter().map(|_| Tally::default()).collect();
    for row in rows {
        let index = match names.iter().position(|(name, _)| name == &row.variant) {
            Some(index) => index,
            None => {
                names.push((row.variant.clone(), false));
                tallies.push(Tally::default());
                names.len() - 1
            }
        };
        tallies[index].add(row);
    }
    for tally in &mut tallies {
        tally.latencies.sort_unstable();
        tally.ttfts.sort_unstable();
    }
    let variants: Vec<VariantReport> = names
        .iter()
        .zip(&tallies)
        .map(|((name, configured), tally)| tally.figures(name, *name == control_name, *configured))
        .collect();
    let control_index = names.iter().position(|(name, _)| *name == control_name);
    let comparisons = match control_index {
        Some(c) => (0..names.len())
            .filter(|&i| i != c)
            .map(|i| compare(&variants[i], &tallies[i], &variants[c], &tallies[c]))
            .collect(),
        None => Vec::new(),
    };
    Report {
        experiment: experiment.name.clone(),
        control: control_name,
        rows: rows.len() as u64,
        variants,
        comparisons,
        guard: guard(experiment, rows),
    }
}

/// One variant against the control: the three tests and their sentences.
fn compare(v: &VariantReport, vt: &Tally, c: &VariantReport, ct: &Tally) -> Comparison {
    let (name, control) = (v.name.as_str(), c.name.as_str());
    let enough = |a: usize, b: usize| a >= MIN_VALUES && b >= MIN_VALUES;
    let mut verdict = Vec::new();

    let latency = enough(vt.latencies.len(), ct.latencies.len())
        .then(|| mann_whitney(&vt.latencies, &ct.latencies))
        .flatten();
    let p50s = format!(
        "p50 {} against {}",
        ms(v.latency_ms.p50),
        ms(c.latency_ms.p50)
    );
    verdict.push(match latency {
        None => too_few(
            "answered requests to compare latency",
            name,
            vt.latencies.len(),
            control,
            ct.latencies.len(),
        ),
        Some(test) if test.p_value < SIGNIFICANCE => {
            // U of the variant below half the pairs: its latencies tend to be the smaller.
            let half = vt.latencies.len() as f64 * ct.latencies.len() as f64 / 2.0;
            let way = if test.statistic < half {
                "faster"
            } else {
                "slower"
            };
            format!(
                "{name} is {way} than {control}: {p50s} (Mann-Whitney {}, larger than the noise)",
                p(test.p_value)
            )
        }
        Some(test) => format!(
            "the latency difference ({p50s}) is within the noise (Mann-Whitney {})",
            p(test.p_value)
        ),
    });

    let feedback = enough(vt.feedback as usize, ct.feedback as usize)
        .then(|| two_proportion(vt.positive, vt.feedback, ct.positive, ct.feedback))
        .flatten();
    let shares = format!(
        "{} against {} positive",
        percent(v.share_positive),
        percent(c.share_positive)
    );
    verdict.push(match feedback {
        None => too_few(
            "ratings to compare feedback",
            name,
            vt.feedback as usize,
            control,
            ct.feedback as usize,
        ),
        Some(test) if test.p_value < SIGNIFICANCE => {
            let way = if test.statistic > 0.0 {
                "better"
            } else {
                "worse"
            };
            format!(
                "{name} is rated {way} than {control}: {shares} (two-proportion z-test {}, \
                 larger than the noise)",
                p(test.p_value)
            )
        }
        Some(test) => format!(
            "the feedback difference ({shares}) is within the noise ({})",
            p(test.p_value)
        ),
    });

    let errors = enough(vt.requests as usize, ct.requests as usize)
        .then(|| two_proportion(vt.errors, vt.requests, ct.errors, ct.requests))
        .flatten();
    let rates = format!(
        "{} against {} of requests",
        percent(v.error_rate),
        percent(c.error_rate)
    );
    verdict.push(match errors {
        None => too_few(
            "requests to compare error rates",
            name,
            vt.requests as usize,
            control,
            ct.requests as usize,
        ),
        Some(test) if test.p_value < SIGNIFICANCE => {
            let way = if test.statistic > 0.0 { "more" } else { "less" };
            format!(
                "{name} fails {way} often than {control}: {rates} (two-proportion z-test {}, \
                 larger than the noise)",
                p(test.p_value)
            )
        }
        Some(test) => format!(
            "the error-rate difference ({rates}) is within the noise ({})",
            p(test.p_value)
        ),
    });

    Comparison {
        variant: v.name.clone(),
        control: c.name.clone(),
        latency,
        feedback,
        errors,
        verdict,
    }
}

fn too_few(what: &str, name: &str, a: usize, control: &str, b: usize) -> String {
    format!("too few {what}: {name} {a}, {control} {b} ({MIN_VALUES} each are needed)")
}

/// "p < 0.001", "p = 0.004", "p = 0.71".
pub(crate) fn p(value: f64) -> String {
    if value < 0.001 {
        "p < 0.001".to_owned()
    } else if value < 0.01 {
        format!("p = {value:.3}")
    } else {
        format!("p = {value:.2}")
    }
}

/// A share as a percentage: whole points from 10 %, one decimal below ("2.0 %"); "–" for none.
pub(crate) fn percent(share: Option<f64>) -> String {
    match share {
        Some(s) if s * 100.0 >= 9.95 => format!("{:.0} %", s * 100.0),
        Some(s) => format!("{:.1} %", s * 100.0),
        None => "–".to_owned(),
    }
}

/// Milliseconds, "120 ms"; "–" for none.
fn ms(value: Option<u64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v} ms"))
}

/// How a row of the text table shows one variant.
type Cell = fn(&VariantReport) -> String;

/// "101 / 130 ms"; "–" for a missing figure.
fn pair(q: &Quantiles) -> String {
    match (q.p50, q.p95) {
        (None, None) => "–".to_owned(),
        (a, b) => format!(
            "{} / {} ms",
            a.map_or("–".to_owned(), |v| v.to_string()),
            b.map_or("–".to_owned(), |v| v.to_string())
        ),
    }
}

/// The report as text for the terminal: a table with a column per variant, then the guard's
/// finding, then each comparison's verdict.
pub fn render_text(report: &Report) -> String {
    let lines: [(&str, Cell); 10] = [
        ("requests", |v| v.requests.to_string()),
        ("answered", |v| percent(v.answered_share)),
        ("errors", |v| percent(v.error_rate)),
        ("shed", |v| percent(v.shed_rate)),
        ("latency p50 / p95", |v| pair(&v.latency_ms)),
        ("first token p50 / p95", |v| pair(&v.ttft_ms)),
        ("completion tokens (mean)", |v| {
            v.mean_completion_tokens
                .map_or("–".to_owned(), |t| format!("{t:.0}"))
        }),
        ("ratings (of answered)", |v| {
            format!("{} ({})", v.feedback, percent(v.feedback_rate))
        }),
        ("positive", |v| percent(v.share_positive)),
        ("positive, 95 % interval", |v| {
            v.share_positive_95.map_or("–".to_owned(), |i| {
                format!("{:.0}–{:.0} %", i.low * 100.0, i.high * 100.0)
            })
        }),
    ];
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut header = vec![String::new()];
    header.extend(report.variants.iter().map(|v| {
        let mut name = v.name.clone();
        if v.control && v.name != "control" {
            name.push_str(" (control)");
        }
        if !v.configured {
            name.push_str(" (not configured)");
        }
        name
    }));
    table.push(header);
    for (label, cell) in lines {
        let mut line = vec![label.to_owned()];
        line.extend(report.variants.iter().map(cell));
        table.push(line);
    }
    let columns = table.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            table
                .iter()
                .map(|line| line.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();

    let mut out = format!(
        "Experiment {}: {} requests; each variant is compared with {}.\n\n",
        report.experiment, report.rows, report.control
    );
    for line in &table {
        let mut text = String::new();
        for (c, cell) in line.iter().enumerate() {
            let width = widths.get(c).copied().unwrap_or(0);
            if c == 0 {
                text.push_str(&format!("{cell:<width$}"));
            } else {
                text.push_str(&format!("  {cell:>width$}"));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    if let Some(trip) = &report.guard {
        out.push_str(&format!("\nGuard: {trip}\n"));
    }
    for comparison in &report.comparisons {
        out.push_str(&format!(
            "\n{} against {}:\n",
            comparison.variant, comparison.control
        ));
        for line in &comparison.verdict {
            out.push_str(&format!("  - {line}\n"));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alice_core::config::{ExperimentGuard, ExperimentRoutes, VariantConfig};

    pub(crate) fn experiment(variants: &[&str]) -> ExperimentConfig {
        ExperimentConfig {
            name: "e".to_owned(),
            routes: ExperimentRoutes::Both,
            start: None,
            stop: None,
            control: None,
            guard: ExperimentGuard::default(),
            variants: variants
                .iter()
                .map(|name| VariantConfig {
                    name: (*name).to_owned(),
                    weight: 1.0,
                    backend: None,
                    model: None,
                    brownout: None,
                    system_prompt: None,
                })
                .collect(),
        }
    }

    fn row(variant: &str, outcome: Outcome, latency: u64, feedback: Option<Rating>) -> OutcomeRow {
        OutcomeRow {
            variant: variant.to_owned(),
            outcome,
            latency_ms: Some(latency),
            ttft_ms: Some(latency / 4),
            completion_tokens: Some(100),
            feedback,
        }
    }

    #[test]
    fn figures_per_variant() {
        let e = experiment(&["control", "b"]);
        let mut rows = vec![
            row("control", Outcome::Answered, 100, Some(Rating::Up)),
            row("control", Outcome::Answered, 300, Some(Rating::Down)),
            row("control", Outcome::Error, 9_999, None),
            row("control", Outcome::Shed, 9_999, None),
            row("gone", Outcome::Answered, 50, None),
        ];
        rows[1].completion_tokens = Some(200);
        rows[2].completion_tokens = None;
        rows[3].completion_tokens = None;
        let r = report(&e, &rows);
        assert_eq!(r.rows, 5);
        let c = &r.variants[0];
        assert!(c.control && c.configured);
        assert_eq!((c.requests, c.answered, c.errors, c.shed), (4, 2, 1, 1));
        assert_eq!(c.answered_share, Some(0.5));
        assert_eq!(c.error_rate, Some(0.25));
        assert_eq!(
            c.latency_ms,
            Quantiles {
                p50: Some(100),
                p95: Some(300)
            },
            "answered only"
        );
        assert_eq!(c.ttft_ms.p50, Some(25));
        assert_eq!(c.mean_completion_tokens, Some(150.0));
        assert_eq!((c.feedback, c.positive), (2, 1));
        assert_eq!(c.feedback_rate, Some(1.0));
        assert_eq!(c.share_positive, Some(0.5));
        let b = &r.variants[1];
        assert_eq!(b.requests, 0);
        assert_eq!(
            (b.error_rate, b.share_positive, b.latency_ms.p50),
            (None, None, None)
        );
        let gone = &r.variants[2];
        assert!(!gone.configured && gone.requests == 1);
        assert_eq!(r.comparisons.len(), 2);
        assert!(r.comparisons[0].latency.is_none());
        assert!(
            r.comparisons[0].verdict[0].starts_with("too few answered requests"),
            "{:?}",
            r.comparisons[0].verdict
        );
        let text = render_text(&r);
        assert!(text.contains("compared with control."), "{text}");
        assert!(!text.contains("control (control)"), "{text}");
        assert!(text.contains("gone (not configured)"), "{text}");
        assert!(text.contains("100 / 300 ms"), "{text}");
        serde_json::to_string(&r).unwrap();
    }

    #[test]
    fn verdicts_say_which_way() {
        let e = experiment(&["control", "big"]);
        let mut rows = Vec::new();
        for i in 0..200u64 {
            let up = |share: u64| {
                Some(if i % 100 < share {
                    Rating::Up
                } else {
                    Rating::Down
                })
            };
            rows.push(row("control", Outcome::Answered, 100 + i % 20, up(50)));
            let outcome = if i % 4 == 0 {
                Outcome::Error
            } else {
                Outcome::Answered
            };
            rows.push(row("big", outcome, 300 + i % 20, up(80)));
        }
        let r = report(&e, &rows);
        let verdict = r.comparisons[0].verdict.join("\n");
        assert!(
            verdict.contains("big is slower than control: p50 310 ms against 109 ms"),
            "{verdict}"
        );
        assert!(
            verdict.contains("big is rated better than control: 80 % against 50 % positive"),
            "{verdict}"
        );
        assert!(
            verdict.contains("big fails more often than control: 25 % against 0.0 % of requests"),
            "{verdict}"
        );
        assert!(
            r.guard.is_some(),
            "25 % against 0 % is over the 10-point margin"
        );
    }

    #[test]
    fn wording_of_numbers() {
        assert_eq!(p(0.0004), "p < 0.001");
        assert_eq!(p(0.0042), "p = 0.004");
        assert_eq!(p(0.712), "p = 0.71");
        assert_eq!(percent(Some(0.62)), "62 %");
        assert_eq!(percent(Some(0.02)), "2.0 %");
        assert_eq!(percent(None), "–");
    }
}
