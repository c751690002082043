//! What the cacheability classifier and the prompt normalisation cost per request, since both
//! run on every chat request before the cache is asked. Figures go in `docs/cacheability.md`.
//!
//! `cargo bench -p alice-cache --bench classifier -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use alice_cache::{classify, normalise_prompt};
use criterion::{Criterion, criterion_group, criterion_main};

/// General knowledge: every rule runs and none fires.
const CACHEABLE: &str = "Vad är skillnaden mellan en sjö och ett hav?";
/// A weather question: the tool word list fires on the second word.
const UNCACHEABLE: &str = "Hur blir vädret i Göteborg i helgen?";
/// About 100 characters of Swedish with capitals, punctuation and a number.
const LONG_SWEDISH: &str =
    "Kan du förklara, kort och enkelt, varför himlen är blå – och vad som händer vid 3,5 km höjd?";

fn classifier(c: &mut Criterion) {
    c.bench_function("classify/cacheable", |b| {
        b.iter(|| classify(black_box(CACHEABLE)))
    });
    c.bench_function("classify/uncacheable", |b| {
        b.iter(|| classify(black_box(UNCACHEABLE)))
    });
    c.bench_function("normalise_prompt/100_chars_sv", |b| {
        b.iter(|| normalise_prompt(black_box(LONG_SWEDISH)))
    });
}

criterion_group!(benches, classifier);
criterion_main!(benches);
