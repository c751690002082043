//! Test harness for `alice bench`: the command line as a user types it, the upstream simulator
//! on 127.0.0.1, a watch on how fast requests reach it, and a small stand-in for Alice's own
//! API. Everything listens on 127.0.0.1 with a free port.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alice_bench::{BenchArgs, Outcome};
use alice_upstream_sim::{Faults, SimHandle};
use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A model the simulator serves.
pub const MODEL: &str = "gpt-oss:20b";

/// `alice bench FLAGS...` as clap parses it.
pub fn bench_args(flags: &[&str]) -> BenchArgs {
    BenchArgs::try_parse_from(std::iter::once("bench").chain(flags.iter().copied())).unwrap()
}

/// Runs `alice bench FLAGS...` to the end; returns the outcome and the printed summary.
pub async fn bench(flags: &[&str]) -> (Outcome, String) {
    let mut out = Vec::new();
    let outcome = alice_bench::run_until(bench_args(flags), std::future::pending(), &mut out)
        .await
        .unwrap();
    let summary = String::from_utf8(out).unwrap();
    println!("{summary}");
    (outcome, summary)
}

/// The simulator with these faults.
pub async fn start_sim(faults: Faults) -> SimHandle {
    alice_upstream_sim::spawn_local(faults).await.unwrap()
}

/// Flags for a load on the simulator's OpenAI endpoint at `rate` for `duration`.
pub fn openai_flags<'a>(sim_url: &'a str, rate: &'a str, duration: &'a str) -> Vec<&'a str> {
    vec![
        "--target",
        sim_url,
        "--api",
        "openai",
        "--model",
        MODEL,
        "--rate",
        rate,
        "--duration",
        duration,
        "--seed",
        "1",
        "--quiet",
    ]
}

/// Counts, from the simulator's side, how many chat requests have arrived, every few
/// milliseconds: the arrival rate as the target saw it, measured independently of the tool.
pub struct ArrivalWatch {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<(Instant, usize)>>,
}

impl ArrivalWatch {
    pub fn start(sim: &SimHandle) -> Self {
        let sim = sim.clone();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            while !*stopped.borrow() {
                let received = sim.stats().received;
                samples.push((Instant::now(), received));
                tokio::select! {
                    _ = stopped.changed() => {}
                    () = tokio::time::sleep(Duration::from_millis(10)) => {}
                }
            }
            samples
        });
        Self { stop, task }
    }

    /// Stops watching and returns the arrival rate (requests per second) over `span`,
    /// starting `skip` after the first request arrived, so start-up and the tail are left out.
    pub async fn rate(self, skip: Duration, span: Duration) -> f64 {
        self.stop.send_replace(true);
        let samples = self.task.await.unwrap();
        let first = samples
            .iter()
            .find(|s| s.1 > 0)
            .expect("no request reached the target")
            .0;
        let from = samples
            .iter()
            .find(|s| s.0 >= first + skip)
            .expect("the watch ended too early");
        let to = samples
            .iter()
            .rev()
            .find(|s| s.0 <= first + skip + span)
            .expect("no sample in the window");
        assert!(
            to.0 - from.0 > span.mul_f64(0.9),
            "samples too sparse to measure a rate"
        );
        (to.1 - from.1) as f64 / (to.0 - from.0).as_secs_f64()
    }
}

/// A request as the stand-in Alice saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub message: String,
    pub conversation_id: Option<String>,
    pub stream: bool,
}

/// A stand-in for Alice's native `POST /api/chat`: answers at once, keeps conversation ids,
/// streams `delta`/`done` events as Alice does.
pub struct FakeAlice {
    pub base: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for FakeAlice {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Default)]
struct FakeState {
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn fake_chat(State(state): State<FakeState>, Json(body): Json<Value>) -> Response {
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let given = body["conversation_id"].as_str().map(str::to_owned);
    let conversation_id = {
        let mut seen = state.seen.lock().unwrap();
        seen.push(Seen {
            message,
            conversation_id: given.clone(),
            stream,
        });
        given.unwrap_or_else(|| format!("c-{}", seen.len()))
    };
    let reply = json!({
        "response": "Hej! Det ordnar jag.",
        "conversation_id": conversation_id,
        "model": "fake",
    });
    if !stream {
        return Json(reply).into_response();
    }
    let events = [
        Event::default()
            .event("delta")
            .data(json!({"delta": "Hej! "}).to_string()),
        Event::default()
            .event("delta")
            .data(json!({"delta": "Det ordnar jag."}).to_string()),
        Event::default().event("done").data(reply.to_string()),
    ];
    Sse::new(futures_util::stream::iter(
        events.into_iter().map(Ok::<_, Infallible>),
    ))
    .into_response()
}

impl FakeAlice {
    pub async fn start() -> Self {
        let state = FakeState::default();
        let seen = Arc::clone(&state.seen);
        let app = axum::Router::new()
            .route("/api/chat", axum::routing::post(fake_chat))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base, seen, task }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}
