//! The response cache's hit path, end to end over HTTP: a client on 127.0.0.1 asks a question
//! Alice has already answered, and Alice replies from the cache (storing the turn in SQLite,
//! as every answer is). The upstream simulator answers the first ask only.
//!
//! `cargo bench --bench cache_hit` prints p50/p99/p99.9 over 5,000 sequential asks per API,
//! then criterion's timing of the same asks. It then measures what the cache costs a question
//! asked for the first time (a miss that goes through the coalescer to the simulator): the
//! same unique questions, alternately, to an Alice with the cache on and one with it off.
//! Figures go to docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use alice_core::Config;
use alice_upstream_sim::Faults;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const QUESTION: &str = "Vad är Sveriges huvudstad?";
const SAMPLES: usize = 5_000;

struct Setup {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
    // Kept alive for the length of the benchmark.
    _dir: tempfile::TempDir,
    _sim: alice_upstream_sim::SimHandle,
    _alice: alice_server::RunningServer,
}

fn setup(cache: bool) -> Setup {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (sim, alice) = runtime.block_on(async {
        let sim = alice_upstream_sim::spawn_local(Faults::default())
            .await
            .unwrap();
        let mut config = Config::default();
        config.server.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        config.database.url = format!("sqlite://{}/alice.db", dir.path().display());
        config.backends[0].url = sim.base_url();
        config.backends[0].model = "gpt-oss:20b".to_owned();
        config.backends[0].probe_generation = false;
        config.backends[0].warm_up = false;
        config.guardian.enabled = false;
        config.cache.enabled = cache;
        config.validate().unwrap();
        let alice = alice_server::start(config).await.unwrap();
        (sim, alice)
    });
    Setup {
        http: reqwest::Client::new(),
        base: format!("http://{}", alice.addr()),
        runtime,
        _dir: dir,
        _sim: sim,
        _alice: alice,
    }
}

/// One ask on `path` with `body`; panics unless the answer came from the cache.
async fn ask(http: &reqwest::Client, url: &str, body: &Value, native: bool) {
    let response = http.post(url).json(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    if native {
        assert_eq!(reply["cached"], true, "{reply}");
    }
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index].as_secs_f64() * 1e6
    };
    format!(
        "p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs",
        at(0.50),
        at(0.99),
        at(0.999),
        at(1.0)
    )
}

fn hit_path(c: &mut Criterion) {
    let setup = setup(true);
    let apis = [
        (
            "native /api/chat",
            format!("{}/api/chat", setup.base),
            json!({ "message": QUESTION }),
            true,
        ),
        (
            "openai /v1/chat/completions",
            format!("{}/v1/chat/completions", setup.base),
            json!({ "model": "alice", "messages": [{ "role": "user", "content": QUESTION }] }),
            false,
        ),
    ];
    let mut group = c.benchmark_group("cache_hit_over_http");
    for (name, url, body, native) in &apis {
        // The first ask reaches the simulator and fills the cache; the rest are hits.
        setup.runtime.block_on(async {
            setup.http.post(url).json(body).send().await.unwrap();
            ask(&setup.http, url, body, *native).await;
        });
        let samples = setup.runtime.block_on(async {
            let mut samples = Vec::with_capacity(SAMPLES);
            for _ in 0..SAMPLES {
                let start = Instant::now();
                ask(&setup.http, url, body, *native).await;
                samples.push(start.elapsed());
            }
            samples
        });
        println!(
            "{name}: {SAMPLES} sequential hits: {}",
            percentiles(samples)
        );
        group.bench_function(*name, |b| {
            b.to_async(&setup.runtime)
                .iter(|| ask(&setup.http, url, body, *native));
        });
    }
    group.finish();
}

/// A question never asked before in this process, cacheable by the classifier.
fn unique_question(counter: &AtomicU64) -> Value {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    json!({
        "model": "alice",
        "messages": [{ "role": "user", "content": format!("Vad är {n} gånger {n}?") }],
    })
}

async fn ask_openai(http: &reqwest::Client, url: &str, body: Value) {
    let response = http.post(url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
}

fn unique_questions(c: &mut Criterion) {
    let with_cache = setup(true);
    let without_cache = setup(false);
    let counter = AtomicU64::new(0);
    let url = |setup: &Setup| format!("{}/v1/chat/completions", setup.base);
    let (on_url, off_url) = (url(&with_cache), url(&without_cache));
    // Alternating asks share whatever else the machine is doing.
    let (on, off) = with_cache.runtime.block_on(async {
        let mut on = Vec::with_capacity(SAMPLES);
        let mut off = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let start = Instant::now();
            ask_openai(&with_cache.http, &on_url, unique_question(&counter)).await;
            on.push(start.elapsed());
            let start = Instant::now();
            ask_openai(&without_cache.http, &off_url, unique_question(&counter)).await;
            off.push(start.elapsed());
        }
        (on, off)
    });
    println!("unique questions, cache on:  {}", percentiles(on));
    println!("unique questions, cache off: {}", percentiles(off));
    let mut group = c.benchmark_group("unique_question_over_http");
    for (name, setup, url) in [
        ("cache on", &with_cache, &on_url),
        ("cache off", &without_cache, &off_url),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&setup.runtime)
                .iter(|| ask_openai(&setup.http, url, unique_question(&counter)));
        });
    }
    group.finish();
}

criterion_group!(benches, hit_path, unique_questions);
criterion_main!(benches);
