//! The write batcher's throughput: turns written through [`Store::record_turn`] by 64
//! concurrent tasks, with batching (`batch_max_turns` 64, the default) and without (1), on
//! SQLite (a file in a temporary directory: WAL with synchronous NORMAL, the defaults; WAL with
//! synchronous FULL; the rollback journal) and on PostgreSQL when `ALICE_TEST_POSTGRES_URL` is
//! set (in a schema of its own, dropped afterwards).
//!
//! A turn is what a chat request writes: its conversation's update (or creation, for a task's
//! first turn) and two message rows, the question and the answer. Each task keeps one
//! conversation and continues it, as a user does.
//!
//! For each configuration:
//! - a timed closed loop (`ALICE_BENCH_SECONDS`, default 3 s, after a 0.5 s warm-up): the 64
//!   tasks write turns back to back; it prints turns/s, message rows/s, turns per transaction
//!   and the commit latency a request sees (from `record_turn` until its commit: p50/p99/max);
//! - a lone writer for 1 s: one task, so nothing to batch with; its commit latency p50/p99;
//! - criterion (`iter_custom`): a burst of 64 turns sent at once, timed until the last one is
//!   committed (throughput counted as 64 turns per burst).
//!
//! A filter argument (`cargo bench -p alice-store --bench batching -- sqlite`) selects
//! configurations by name, for all three parts. Figures go to docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use alice_core::config::{DatabaseConfig, Synchronous};
use alice_store::{ConversationTarget, NewMessage, NewTurn, Store};
use chrono::Utc;
use criterion::{Criterion, Throughput};
use sqlx::{Connection, Executor};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

const TASKS: usize = 64;
const WARM_UP: Duration = Duration::from_millis(500);
/// How long the lone writer writes.
const LONE: Duration = Duration::from_secs(1);

const QUESTION: &str = "Kan du föreslå en enkel middag för fyra personer som går på en halvtimme?";
const ANSWER: &str = "Självklart! Pasta med tomatsås, vitlök och basilika går på tjugo minuter: \
    koka pastan, fräs vitlöken i olivolja, tillsätt krossade tomater och låt sjuda medan pastan \
    kokar. Riv parmesan över och servera med en grönsallad. Vill du ha något med fisk i stället \
    kan ugnsbakad lax med citron och dill och kokt potatis vara ett bra alternativ.";

/// One configuration: an engine and its settings.
struct Setup {
    name: String,
    config: DatabaseConfig,
    /// Kept for the length of the configuration's runs.
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the schema to drop afterwards.
    pg_schema: Option<(String, String)>,
}

fn sqlite(name: &str, wal: bool, synchronous: Synchronous, batch: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    Setup {
        name: name.to_owned(),
        config: DatabaseConfig {
            url: format!("sqlite://{}/alice.db", dir.path().display()),
            wal,
            synchronous,
            batch_max_turns: batch,
            ..DatabaseConfig::default()
        },
        _dir: Some(dir),
        pg_schema: None,
    }
}

fn postgres(name: &str, url: &str, batch: usize) -> Setup {
    let schema = format!("alice_bench_{}", &Uuid::new_v4().simple().to_string()[..10]);
    Setup {
        name: name.to_owned(),
        config: DatabaseConfig {
            url: url.to_owned(),
            schema: Some(schema.clone()),
            batch_max_turns: batch,
            ..DatabaseConfig::default()
        },
        _dir: None,
        pg_schema: Some((url.to_owned(), schema)),
    }
}

/// The configurations, each built when its turn comes (so only one database exists at a time).
fn setups() -> Vec<(String, Box<dyn Fn() -> Setup>)> {
    let mut setups: Vec<(String, Box<dyn Fn() -> Setup>)> = Vec::new();
    let sqlite_cases = [
        ("sqlite wal normal", true, Synchronous::Normal),
        ("sqlite wal full", true, Synchronous::Full),
        ("sqlite rollback full", false, Synchronous::Full),
        ("sqlite rollback normal", false, Synchronous::Normal),
    ];
    for (engine, wal, synchronous) in sqlite_cases {
        for batch in [64, 1] {
            let name = format!("{engine} batch={batch}");
            let inner = name.clone();
            setups.push((
                name,
                Box::new(move || sqlite(&inner, wal, synchronous, batch)),
            ));
        }
    }
    match std::env::var("ALICE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            for batch in [64, 1] {
                let name = format!("postgres batch={batch}");
                let (inner, url) = (name.clone(), url.clone());
                setups.push((name, Box::new(move || postgres(&inner, &url, batch))));
            }
        }
        _ => println!("skipped postgres: ALICE_TEST_POSTGRES_URL is not set"),
    }
    setups
}

/// 64 users, each continuing a conversation of their own.
struct Workload {
    store: Store,
    conversations: Vec<Mutex<Option<Uuid>>>,
}

impl Workload {
    /// Writes task `task`'s next turn; returns how long it took to be committed.
    async fn turn(&self, task: usize) -> Duration {
        let existing = *self.conversations[task].lock().unwrap();
        let conversation = match existing {
            Some(id) => ConversationTarget::Existing(id),
            None => ConversationTarget::New {
                id: Uuid::now_v7(),
                username: format!("bench{task}"),
            },
        };
        let now = Utc::now();
        let mut assistant = NewMessage::new(ANSWER, now);
        assistant.model_used = Some("ollama:gpt-oss:20b".to_owned());
        assistant.response_time_ms = Some(850);
        assistant.ttft_ms = Some(180);
        assistant.completion_tokens = Some(72);
        let turn = NewTurn {
            conversation,
            request_id: Uuid::now_v7().to_string(),
            user: NewMessage::new(QUESTION, now),
            assistant,
        };
        let start = Instant::now();
        let recorded = self.store.record_turn(turn).await.unwrap();
        let took = start.elapsed();
        *self.conversations[task].lock().unwrap() = Some(recorded.conversation_id);
        took
    }
}

/// The 64 tasks write turns until `deadline`; returns each turn's commit latency.
async fn run_until(workload: &Arc<Workload>, deadline: Instant) -> Vec<Duration> {
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let workload = Arc::clone(workload);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    latencies.push(workload.turn(task).await);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies
}

/// `bursts` times, the 64 tasks each write one turn at the same moment; returns the time until
/// every burst's last turn was committed, summed.
async fn run_bursts(workload: &Arc<Workload>, bursts: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..bursts {
        let start = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let workload = Arc::clone(workload);
                tokio::spawn(async move { workload.turn(task).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        total += start.elapsed();
    }
    total
}

/// One task writes turns one after the other until `deadline`: the commit latency of a lone
/// request, with nothing to batch it with.
async fn lone_until(workload: &Arc<Workload>, deadline: Instant) -> Vec<Duration> {
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        latencies.push(workload.turn(0).await);
    }
    latencies
}

/// What an fsync costs on this disk right now: 4 KiB written and `sync_data`ed 50 times in a
/// temporary file, p50 and p99. Every figure without batching depends on it, and on a shared
/// machine it changes from minute to minute with the others' I/O.
fn fsync_cost() -> (Duration, Duration) {
    use std::io::{Seek, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut file = std::fs::File::create(dir.path().join("probe")).unwrap();
    let page = [7u8; 4096];
    let mut took: Vec<Duration> = (0..50)
        .map(|_| {
            let start = Instant::now();
            file.seek(std::io::SeekFrom::Start(0)).unwrap();
            file.write_all(&page).unwrap();
            file.sync_data().unwrap();
            start.elapsed()
        })
        .collect();
    took.sort();
    (percentile(&took, 0.50), percentile(&took, 0.99))
}

/// What the timed loop measured.
struct Figures {
    name: String,
    fsync_p50: Duration,
    turns_per_s: f64,
    turns_per_batch: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    lone_p50: Duration,
    lone_p99: Duration,
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

async fn timed(workload: &Arc<Workload>, name: &str, seconds: f64) -> Figures {
    let (fsync_p50, fsync_p99) = fsync_cost();
    println!(
        "{name}: disk: fsync of 4 KiB p50 {} p99 {}",
        ms(fsync_p50),
        ms(fsync_p99)
    );
    run_until(workload, Instant::now() + WARM_UP).await;
    let counters = workload.store.batch_counters();
    let (batches, written) = (
        counters.batches.load(Ordering::Relaxed),
        counters.turns.load(Ordering::Relaxed),
    );
    let start = Instant::now();
    let mut latencies = run_until(workload, start + Duration::from_secs_f64(seconds)).await;
    let elapsed = start.elapsed();
    let batches = counters.batches.load(Ordering::Relaxed) - batches;
    let written = counters.turns.load(Ordering::Relaxed) - written;
    assert_eq!(counters.failed.load(Ordering::Relaxed), 0);
    latencies.sort();
    let turns = latencies.len();
    let mut lone = lone_until(workload, Instant::now() + LONE).await;
    lone.sort();
    let figures = Figures {
        name: name.to_owned(),
        fsync_p50,
        turns_per_s: turns as f64 / elapsed.as_secs_f64(),
        turns_per_batch: written as f64 / batches.max(1) as f64,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        max: percentile(&latencies, 1.0),
        lone_p50: percentile(&lone, 0.50),
        lone_p99: percentile(&lone, 0.99),
    };
    println!(
        "{name}: {turns} turns in {:.2} s: {:.0} turns/s, {:.0} message rows/s, \
         {:.1} turns per transaction, commit latency p50 {} p99 {} max {}; \
         a lone writer: {} turns, commit latency p50 {} p99 {}",
        elapsed.as_secs_f64(),
        figures.turns_per_s,
        2.0 * figures.turns_per_s,
        figures.turns_per_batch,
        ms(figures.p50),
        ms(figures.p99),
        ms(figures.max),
        lone.len(),
        ms(figures.lone_p50),
        ms(figures.lone_p99),
    );
    figures
}

async fn drop_schema(url: &str, schema: &str) {
    let dropped = async {
        let mut connection = sqlx::PgConnection::connect(url).await?;
        connection
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
            )))
            .await?;
        connection.close().await
    }
    .await;
    if let Err(error) = dropped {
        println!("could not drop schema {schema}: {error}");
    }
}

fn main() {
    let seconds: f64 = std::env::var("ALICE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    // The first argument that is not an option (cargo passes `--bench`) filters by name.
    let filter = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .unwrap_or_default();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .configure_from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut table = Vec::new();
    for (name, build) in setups() {
        if !name.contains(&filter) {
            continue;
        }
        let setup = build();
        let workload = Arc::new(Workload {
            store: runtime.block_on(Store::open(&setup.config)).unwrap(),
            conversations: (0..TASKS).map(|_| Mutex::new(None)).collect(),
        });
        table.push(runtime.block_on(timed(&workload, &setup.name, seconds)));
        let mut group = criterion.benchmark_group("burst_of_64_turns");
        group.throughput(Throughput::Elements(TASKS as u64));
        group.bench_function(&setup.name, |b| {
            b.to_async(&runtime)
                .iter_custom(|bursts| run_bursts(&workload, bursts));
        });
        group.finish();
        runtime.block_on(workload.store.close());
        if let Some((url, schema)) = &setup.pg_schema {
            runtime.block_on(drop_schema(url, schema));
        }
    }
    println!();
    println!(
        "| configuration | turns/s | message rows/s | turns per transaction | commit p50 | \
         commit p99 | max | lone writer p50 / p99 | fsync p50 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for f in &table {
        println!(
            "| {} | {:.0} | {:.0} | {:.1} | {} | {} | {} | {} / {} | {} |",
            f.name,
            f.turns_per_s,
            2.0 * f.turns_per_s,
            f.turns_per_batch,
            ms(f.p50),
            ms(f.p99),
            ms(f.max),
            ms(f.lone_p50),
            ms(f.lone_p99),
            ms(f.fsync_p50),
        );
    }
    criterion.final_summary();
}
