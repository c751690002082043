//! The cacheability classifier measured against the labelled set in `data/cacheability.tsv`.
//!
//! A wrong "cacheable" serves one user's answer to another, so the precision of "cacheable" must
//! stay at or above 0.98; a wrong "uncacheable" only costs a model call, so recall need only
//! reach 0.7. The test prints the confusion matrix, the verdicts per label and every prompt the
//! classifier gets wrong:
//!
//! `cargo test -p alice-cache --test classifier_labelled_set -- --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};

use alice_cache::{Verdict, classify, normalise_prompt};

/// The lowest precision of "cacheable" the classifier may have on the labelled set.
const MIN_PRECISION: f64 = 0.98;
/// The lowest recall of "cacheable" the classifier may have on the labelled set.
const MIN_RECALL: f64 = 0.7;
/// The fewest prompts the set may hold.
const MIN_PROMPTS: usize = 300;
/// The labels a line may carry: "cacheable" and the names of `Reason::as_str()`.
const LABELS: &[&str] = &["cacheable", "time", "personal", "tool", "follow_up"];

/// One labelled prompt and the line it stands on.
struct Example {
    line: usize,
    label: String,
    prompt: String,
}

fn load() -> Vec<Example> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/cacheability.tsv");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut examples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((label, prompt)) = line.split_once('\t') else {
            panic!("line {line_no}: expected `label<TAB>prompt`, got {line:?}");
        };
        assert!(
            LABELS.contains(&label),
            "line {line_no}: unknown label {label:?}; use one of {LABELS:?}"
        );
        assert!(
            !prompt.contains('\t') && !prompt.trim().is_empty(),
            "line {line_no}: the prompt must be non-empty and hold no tab"
        );
        examples.push(Example {
            line: line_no,
            label: label.to_owned(),
            prompt: prompt.to_owned(),
        });
    }
    examples
}

/// Words only Swedish uses (or letters only Swedish has), to tell the two languages apart well
/// enough to check that both are there.
fn is_swedish(prompt: &str) -> bool {
    const SWEDISH: &[&str] = &[
        "vad", "vem", "hur", "vilken", "vilket", "vilka", "varför", "när", "och", "det", "den",
        "ett", "en", "ja", "nej", "tack", "om", "till", "jag", "min", "mitt", "mina", "har", "var",
        "hej", "recept", "lite", "ring", "lägg", "starta", "stoppa",
    ];
    let lower = prompt.to_lowercase();
    lower.contains(['å', 'ä', 'ö'])
        || lower
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| SWEDISH.contains(&w))
}

#[test]
fn the_labelled_set_holds_the_precision_and_recall_targets() {
    let examples = load();

    // Counts of (label, verdict) pairs, where a verdict is "cacheable" or a reason's name.
    let mut by_label: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    let (mut tp, mut fp, mut fn_, mut tn) = (0_usize, 0_usize, 0_usize, 0_usize);
    let mut false_cacheable = Vec::new();
    let mut false_uncacheable = Vec::new();
    let mut wrong_reason = Vec::new();
    for example in &examples {
        let verdict = classify(&example.prompt);
        let said = match verdict {
            Verdict::Cacheable => "cacheable",
            Verdict::Uncacheable(reason) => reason.as_str(),
        };
        *by_label
            .entry(example.label.as_str())
            .or_default()
            .entry(said)
            .or_default() += 1;
        let labelled_cacheable = example.label == "cacheable";
        match (labelled_cacheable, verdict.is_cacheable()) {
            (true, true) => tp += 1,
            (false, true) => {
                fp += 1;
                false_cacheable.push((example, said));
            }
            (true, false) => {
                fn_ += 1;
                false_uncacheable.push((example, said));
            }
            (false, false) => {
                tn += 1;
                if said != example.label {
                    wrong_reason.push((example, said));
                }
            }
        }
    }

    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    let swedish = examples.iter().filter(|e| is_swedish(&e.prompt)).count();
    let english = examples.len() - swedish;

    println!(
        "{} prompts ({swedish} Swedish, {english} English)",
        examples.len()
    );
    println!();
    println!("                        classified cacheable   classified uncacheable");
    println!("labelled cacheable      {tp:>20}   {fn_:>22}");
    println!("labelled uncacheable    {fp:>20}   {tn:>22}");
    println!();
    println!("precision(cacheable) = {tp}/{} = {precision:.3}", tp + fp);
    println!("recall(cacheable)    = {tp}/{} = {recall:.3}", tp + fn_);
    println!();
    println!("verdicts per label:");
    for (label, verdicts) in &by_label {
        let total: usize = verdicts.values().sum();
        let parts: Vec<String> = verdicts.iter().map(|(v, n)| format!("{v} {n}")).collect();
        println!("  {label:<10} {total:>4}: {}", parts.join(", "));
    }
    for (title, list) in [
        (
            "classified cacheable, labelled uncacheable",
            &false_cacheable,
        ),
        (
            "classified uncacheable, labelled cacheable",
            &false_uncacheable,
        ),
        (
            "uncacheable as labelled, but for another reason",
            &wrong_reason,
        ),
    ] {
        println!();
        println!("{title} ({}):", list.len());
        for (example, said) in list.iter() {
            println!(
                "  line {:>3}  {:<9} -> {:<9} {}",
                example.line, example.label, said, example.prompt
            );
        }
    }

    assert!(
        examples.len() >= MIN_PROMPTS,
        "the labelled set holds {} prompts; it needs at least {MIN_PROMPTS}",
        examples.len()
    );
    assert!(
        swedish * 2 >= examples.len() && english * 4 >= examples.len(),
        "the set should be mostly Swedish with a good share of English: {swedish} Swedish, \
         {english} English"
    );
    assert!(
        precision >= MIN_PRECISION,
        "precision of cacheable {precision:.3} is below {MIN_PRECISION}"
    );
    assert!(
        recall >= MIN_RECALL,
        "recall of cacheable {recall:.3} is below {MIN_RECALL}"
    );
}

#[test]
fn no_prompt_appears_twice() {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for example in load() {
        if let Some(first) = seen.insert(normalise_prompt(&example.prompt), example.line) {
            panic!(
                "line {} repeats line {first}: {:?}",
                example.line, example.prompt
            );
        }
    }
}

#[test]
fn every_label_is_represented() {
    let examples = load();
    for &label in LABELS {
        let n = examples.iter().filter(|e| e.label == label).count();
        assert!(
            n >= 20,
            "only {n} prompts labelled {label}; every label needs at least 20"
        );
    }
}
