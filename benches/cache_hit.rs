//! The response cache's hit path, end to end over HTTP: a client on 127.0.0.1 asks a question
//! Alice has already answered, and Alice replies from the cache (storing the turn in SQLite,
//! as every answer is). The upstream simulator answers the first ask only.
//!
//! `cargo bench --bench cache_hit` prints p50/p99/p99.9 over 5,000 sequential asks per API,
//! then criterion's timing of the same asks. Figures go to docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use alice_core::Config;
use alice_upstream_sim::{Faults, SimConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::net::SocketAddr;
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

fn setup() -> Setup {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (sim, alice) = runtime.block_on(async {
        let sim = alice_upstream_sim::spawn(
            SimConfig {
                faults: Faults::default(),
                ..SimConfig::default()
            },
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
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
    let setup = setup();
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

criterion_group!(benches, hit_path);
criterion_main!(benches);
