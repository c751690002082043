//! The labelled set: `labelled/requests.tsv` holds `label<TAB>text` lines written for Alice,
//! Swedish mostly, about half of them requests that must go to the model. Each line is
//! classified and routed at the default threshold (0.7; below it is `model`). The test prints a
//! per-intent table and requires at least 90 % right overall and no `model` line routed to a
//! local intent: a local answer to a real question is the worst mistake the classifier can make.

use alice_intents::{Classification, classify};
use std::collections::BTreeMap;

const MIN_CONFIDENCE: f32 = 0.7;

fn routed(classification: &Classification) -> &'static str {
    if classification.is_local(MIN_CONFIDENCE) {
        classification.intent.name()
    } else {
        "model"
    }
}

#[test]
fn labelled_requests_are_routed_right() {
    let set = include_str!("labelled/requests.tsv");
    let mut per_label: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut false_locals = Vec::new();
    let mut total = 0;
    for line in set.lines().filter(|line| !line.trim().is_empty()) {
        let Some((expected, text)) = line.split_once('\t') else {
            panic!("a line without a tab: {line:?}");
        };
        let classification = classify(text);
        let got = routed(&classification);
        let entry = per_label.entry(expected).or_default();
        entry.1 += 1;
        total += 1;
        if got == expected {
            entry.0 += 1;
        } else {
            wrong.push(format!(
                "  {expected:<18} → {got:<18} ({:.2}) {text}",
                classification.confidence
            ));
            if expected == "model" {
                false_locals.push(text);
            }
        }
    }
    let right: usize = per_label.values().map(|(right, _)| right).sum();
    eprintln!(
        "{:<20} {:>5} {:>5} {:>8}",
        "intent", "right", "lines", "accuracy"
    );
    for (name, (right, lines)) in &per_label {
        eprintln!(
            "{name:<20} {right:>5} {lines:>5} {:>7.1}%",
            100.0 * *right as f64 / *lines as f64
        );
    }
    let accuracy = right as f64 / total as f64;
    eprintln!(
        "{:<20} {right:>5} {total:>5} {:>7.1}%",
        "all",
        100.0 * accuracy
    );
    if !wrong.is_empty() {
        eprintln!("routed otherwise:\n{}", wrong.join("\n"));
    }
    assert!(
        total >= 420,
        "the labelled set has {total} lines; it should have at least 420"
    );
    assert!(
        false_locals.is_empty(),
        "model lines routed locally: {false_locals:?}"
    );
    assert!(accuracy >= 0.9, "accuracy {accuracy:.3} is below 0.9");
}
