//! What the cacheability classifier and the prompt normalisation cost per request, since both
//! run on every chat request before the cache is asked. Figures go in `docs/cacheability.md`.
//!
//! `cargo bench -p alice-cache --bench classifier -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use alice_cache::{classify, normalise_prompt};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// General knowledge, short: every rule runs and none fires.
const SHORT_CACHEABLE: &str = "Vad är Sveriges huvudstad?";
/// General knowledge, a little longer, with a Swedish compound.
const CACHEABLE: &str = "Vad är skillnaden mellan en sjö och ett hav?";
/// A weather question: the tool word list fires on the second word and the rest is skipped.
const UNCACHEABLE: &str = "Hur blir vädret i Göteborg i helgen?";
/// About 100 characters of Swedish with capitals, punctuation and a number.
const LONG_SWEDISH: &str =
    "Kan du förklara, kort och enkelt, varför himlen är blå – och vad som händer vid 3,5 km höjd?";
/// About 600 characters of pasted text with a question at the end, cacheable, so that every
/// word is looked up and every rule runs to the end.
const LONG_PASTED: &str = "Fotosyntesen är den process där växter, alger och vissa bakterier \
    omvandlar ljusenergi till kemisk energi. I kloroplasterna fångar klorofyll upp solljus, och \
    energin används för att bygga glukos av koldioxid och vatten. Som restprodukt bildas syre, \
    som släpps ut i atmosfären. Processen delas vanligen in i två steg: de ljusberoende \
    reaktionerna, som sker i tylakoidmembranen, och Calvincykeln, som sker i stromat. Utan \
    fotosyntes skulle det inte finnas något fritt syre i luften och nästan inga näringskedjor på \
    land. Kan du förklara skillnaden mellan de två stegen enklare, med ett exempel från en \
    vanlig växt som en maskros?";

/// The prompts of the labelled set, in file order.
fn labelled_prompts() -> Vec<&'static str> {
    const SET: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/cacheability.tsv"
    ));
    SET.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('\t').map(|(_, prompt)| prompt))
        .collect()
}

fn classifier(c: &mut Criterion) {
    c.bench_function("classify/short_cacheable", |b| {
        b.iter(|| classify(black_box(SHORT_CACHEABLE)))
    });
    c.bench_function("classify/cacheable", |b| {
        b.iter(|| classify(black_box(CACHEABLE)))
    });
    c.bench_function("classify/uncacheable", |b| {
        b.iter(|| classify(black_box(UNCACHEABLE)))
    });
    c.bench_function("classify/long_600_chars", |b| {
        b.iter(|| classify(black_box(LONG_PASTED)))
    });

    let prompts = labelled_prompts();
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(prompts.len() as u64));
    group.bench_function("labelled_set", |b| {
        b.iter(|| {
            let mut cacheable = 0_usize;
            for &prompt in &prompts {
                if classify(black_box(prompt)).is_cacheable() {
                    cacheable += 1;
                }
            }
            cacheable
        })
    });
    group.finish();

    c.bench_function("normalise_prompt/100_chars_sv", |b| {
        b.iter(|| normalise_prompt(black_box(LONG_SWEDISH)))
    });
}

criterion_group!(benches, classifier);
criterion_main!(benches);
