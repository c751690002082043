//! The embedded backend with a real GGUF model. Runs when `ALICE_TEST_EMBEDDED_MODEL` names the
//! file (`scripts/fetch-model.sh` puts SmolLM2-135M-Instruct at
//! data/models/SmolLM2-135M-Instruct.Q4_1.gguf); otherwise every test prints that it was
//! skipped. Answers are greedy (temperature 0), so they are the same on every run; the tests
//! assert on behaviour, not on the tiny model's wording. Tests run one at a time (they share
//! the machine's cores), and every generation is bounded by a small `max_tokens`.
//!
//! `cargo test --release -p alice-llm --test embedded -- --ignored --nocapture figures` prints
//! load time, memory, time to first token and tokens/s at 1 and 2 answers at once.
#![cfg(feature = "embedded")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use alice_core::config::{AdaptiveConcurrencyConfig, BreakerConfig, RetryConfig};
use alice_core::{BackendConfig, ChatMessage, Role};
use alice_llm::{
    ChatRequest, Completion, EmbeddedClient, ErrorKind, FinishReason, LlmError, LlmRouter,
    Provider, RoutedEvent, RoutedStream,
};
use futures_util::StreamExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const MODEL_ENV: &str = "ALICE_TEST_EMBEDDED_MODEL";

/// One test at a time: they measure and share two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn model(test: &str) -> Option<PathBuf> {
    match std::env::var_os(MODEL_ENV) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            println!("skipped {test}: {MODEL_ENV} is not set");
            None
        }
    }
}

fn config(path: PathBuf, max_concurrent: usize) -> BackendConfig {
    BackendConfig {
        max_concurrent,
        first_token_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        ..BackendConfig::embedded(Some(path))
    }
}

fn client(path: PathBuf, max_concurrent: usize) -> EmbeddedClient {
    EmbeddedClient::new(&config(path, max_concurrent)).unwrap()
}

fn router(path: PathBuf, max_concurrent: usize) -> LlmRouter {
    LlmRouter::new(
        &[config(path, max_concurrent)],
        RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        },
        BreakerConfig::default(),
        AdaptiveConcurrencyConfig::default(),
    )
    .unwrap()
}

fn ask(question: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::new(Role::User, question)],
        max_tokens,
        temperature: 0.0,
        num_ctx: 2048,
        stop: Vec::new(),
        deadline: None,
        stream_deadline: None,
        model: None,
        client: None,
        priority: alice_core::Priority::Interactive,
        backend: None,
    }
}

/// What a whole stream brought: the text, the deltas, how it ended, and when the first text
/// came.
struct Answer {
    text: String,
    deltas: usize,
    end: Result<Completion, LlmError>,
    first_text: Option<Duration>,
}

async fn read_all(mut stream: RoutedStream, started: Instant) -> Answer {
    let mut answer = Answer {
        text: String::new(),
        deltas: 0,
        end: Err(LlmError {
            backend: String::new(),
            url: String::new(),
            kind: ErrorKind::StreamBroken,
            detail: "the stream ended without Done".into(),
            advice: String::new(),
        }),
        first_text: None,
    };
    while let Some(event) = stream.next().await {
        match event {
            Ok(RoutedEvent::Started(_)) => {}
            Ok(RoutedEvent::Delta(text)) => {
                answer.first_text.get_or_insert_with(|| started.elapsed());
                answer.deltas += 1;
                answer.text.push_str(&text);
            }
            Ok(RoutedEvent::Done(completion)) => {
                answer.end = Ok(completion);
                break;
            }
            Err(error) => {
                answer.end = Err(error);
                break;
            }
        }
    }
    answer
}

async fn answer(provider: &dyn Provider, request: ChatRequest) -> Answer {
    let started = Instant::now();
    let stream = provider.chat_stream(request).await.unwrap();
    read_all(stream.map(|e| e.map(RoutedEvent::from)).boxed(), started).await
}

async fn routed_answer(router: &LlmRouter, request: ChatRequest) -> Answer {
    let started = Instant::now();
    let stream = router.chat_stream(request).await.unwrap();
    read_all(stream, started).await
}

#[tokio::test]
async fn a_simple_question_gets_a_streamed_answer() {
    let Some(path) = model("a_simple_question_gets_a_streamed_answer") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let client = client(path, 1);
    let answer = answer(&client, ask("What is the capital of France?", 24)).await;
    println!("answer: {:?}", answer.text);
    let done = answer.end.unwrap();
    assert!(answer.deltas >= 1);
    assert!(!answer.text.trim().is_empty());
    let tokens = done.completion_tokens.unwrap();
    assert!((1..=24).contains(&tokens), "{tokens} completion tokens");
    assert!(done.prompt_tokens.unwrap() > 5);
    assert!(
        answer.text.contains("Paris"),
        "greedy SmolLM2 answers Paris: {:?}",
        answer.text
    );
    let health = client.probe().await;
    assert!(health.model_available, "{health:?}");
    assert_eq!(
        health.context_length,
        Some(8192),
        "SmolLM2's trained context"
    );
}

#[tokio::test]
async fn prompt_tokens_are_counted_exactly_beforehand() {
    let Some(path) = model("prompt_tokens_are_counted_exactly_beforehand") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let client = client(path, 1);
    let mut request = ask("Name three colours.", 2);
    request.messages.insert(
        0,
        ChatMessage::new(Role::System, "You are Alice, a helpful assistant."),
    );
    request
        .messages
        .insert(1, ChatMessage::new(Role::User, "Hej!"));
    request.messages.insert(
        2,
        ChatMessage::new(Role::Assistant, "Hej! Hur kan jag hjälpa dig?"),
    );
    let counted = client.count_prompt_tokens(&request.messages).await.unwrap();
    let done = answer(&client, request).await.end.unwrap();
    assert_eq!(done.prompt_tokens, Some(counted as u64));
    let plain = client
        .count_tokens("Hur kan jag hjälpa dig?")
        .await
        .unwrap();
    assert!((5..=20).contains(&plain), "{plain} tokens");
}

#[tokio::test]
async fn max_tokens_ends_the_answer_with_length() {
    let Some(path) = model("max_tokens_ends_the_answer_with_length") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let client = client(path, 1);
    let answer = answer(&client, ask("Write a long story about a dragon.", 5)).await;
    let done = answer.end.unwrap();
    assert_eq!(done.finish_reason, FinishReason::Length);
    assert_eq!(done.completion_tokens, Some(5));
}

#[tokio::test]
async fn a_stop_sequence_ends_the_answer_before_it() {
    let Some(path) = model("a_stop_sequence_ends_the_answer_before_it") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let client = client(path, 1);
    let question = "Write a long story about a dragon.";
    // Greedy answers repeat: take a word from the middle of the free answer as the stop.
    let free = answer(&client, ask(question, 24)).await;
    free.end.unwrap();
    let words: Vec<&str> = free.text.split_whitespace().collect();
    assert!(words.len() >= 6, "{:?}", free.text);
    let stop = words[4].to_owned();
    let expected = &free.text[..free.text.find(&stop).unwrap()];

    let mut request = ask(question, 24);
    request.stop = vec![stop.clone()];
    let stopped = answer(&client, request).await;
    let done = stopped.end.unwrap();
    assert_eq!(done.finish_reason, FinishReason::Stop);
    assert_eq!(stopped.text, expected, "stop {stop:?}");
    assert!(!stopped.text.contains(&stop));
}

#[tokio::test]
async fn a_prompt_longer_than_the_context_is_rejected() {
    let Some(path) = model("a_prompt_longer_than_the_context_is_rejected") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let client = client(path, 1);
    let mut request = ask(&"Alice answers questions. ".repeat(40), 4);
    request.num_ctx = 64;
    let error = client.chat_stream(request).await.err().unwrap();
    assert_eq!(error.kind, ErrorKind::Rejected { status: 400 });
    assert!(error.detail.contains("the context holds 64"), "{error}");
}

#[tokio::test]
async fn a_whole_answer_ends_complete_before_its_deadline_and_a_stream_at_its_own() {
    let Some(path) =
        model("a_whole_answer_ends_complete_before_its_deadline_and_a_stream_at_its_own")
    else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let client = client(path, 1);
    client.warm_up().await.unwrap();
    // A thousand tokens take many seconds here; the deadline is 2 s away.
    let started = Instant::now();
    let mut request = ask("Write a long story about a dragon.", 1000);
    request.deadline = Some(started + Duration::from_secs(2));
    let whole = answer(&client, request.clone()).await;
    let took = started.elapsed();
    let completion = whole.end.expect("a whole answer, shortened to fit");
    println!(
        "fitted: {} tokens in {took:?}",
        completion.completion_tokens.unwrap_or(0)
    );
    assert_eq!(completion.finish_reason, FinishReason::Length);
    assert!(whole.deltas > 0);
    assert!(
        took < Duration::from_secs(2),
        "complete before the deadline: {took:?}"
    );

    // A stream is not shortened: its own deadline ends it, as an error.
    let started = Instant::now();
    request.deadline = Some(started + Duration::from_secs(30));
    request.stream_deadline = Some(started + Duration::from_millis(400));
    let streamed = answer(&client, request).await;
    let error = streamed.end.unwrap_err();
    assert_eq!(error.kind, ErrorKind::TimedOut, "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stream_deadline_lets_generation_run_past_the_request_deadline() {
    let Some(path) = model("a_stream_deadline_lets_generation_run_past_the_request_deadline")
    else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let client = client(path, 1);
    client.warm_up().await.unwrap();
    // 200 tokens take well over a second here (at most ~130 tokens/s on two cores), so a
    // request deadline of 300 ms bounds the wait for the slot but would cut the answer; a
    // stream's own deadline is what ends a streamed answer.
    let mut request = ask("Write a long story about a dragon.", 200);
    request.deadline = Some(Instant::now() + Duration::from_millis(300));
    request.stream_deadline = Some(Instant::now() + Duration::from_secs(60));
    let streamed = answer(&client, request.clone()).await;
    let completion = streamed.end.expect("the stream runs to max_tokens");
    assert_eq!(completion.finish_reason, FinishReason::Length);
    assert_eq!(completion.completion_tokens, Some(200));

    // Without one, the request's deadline ends generation: a whole answer is cut to fit.
    request.deadline = Some(Instant::now() + Duration::from_millis(300));
    request.stream_deadline = None;
    let whole = answer(&client, request).await;
    let completion = whole.end.expect("a whole answer, shortened to fit");
    assert!(
        completion.completion_tokens.unwrap() < 200,
        "{completion:?}"
    );
}

#[tokio::test]
async fn dropping_the_stream_stops_generation_and_frees_the_slot() {
    let Some(path) = model("dropping_the_stream_stops_generation_and_frees_the_slot") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    // One slot: the second request can only start once the first one's thread has stopped.
    let router = router(path, 1);
    let mut first = router
        .chat_stream(ask("Write a long story about a dragon.", 400))
        .await
        .unwrap();
    // The pace of this run's generation, measured on the first stream itself: the machine is
    // shared, so the bound below is a number of tokens, not seconds.
    let mut delta_times = Vec::new();
    while delta_times.len() < 6 {
        if let Some(Ok(RoutedEvent::Delta(_))) = first.next().await {
            delta_times.push(Instant::now());
        }
    }
    let per_token = (delta_times[5] - delta_times[1]) / 4;
    assert_eq!(router.in_flight(), 1);
    drop(first);
    assert_eq!(
        router.in_flight(),
        0,
        "the router's slot comes back at once"
    );

    let second = routed_answer(&router, ask("What is the capital of France?", 8)).await;
    let first_text = second.first_text.unwrap();
    second.end.unwrap();
    let waited_tokens = first_text.as_secs_f64() / per_token.as_secs_f64().max(1e-6);
    println!(
        "after the drop: second answer's first text in {first_text:?}, \
         {waited_tokens:.0} token times of {per_token:?}"
    );
    // A generation that kept running would hold the one slot for its remaining ~390 tokens;
    // one that stopped costs the second request only its prompt and first token.
    assert!(
        waited_tokens < 120.0,
        "the second request waited {waited_tokens:.0} token times ({first_text:?}): the first \
         generation did not stop"
    );
}

#[tokio::test]
async fn two_requests_at_once_both_complete() {
    let Some(path) = model("two_requests_at_once_both_complete") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let router = router(path, 2);
    let started = Instant::now();
    let (a, b) = tokio::join!(
        routed_answer(&router, ask("What is the capital of France?", 16)),
        routed_answer(&router, ask("Name three colours.", 16)),
    );
    println!(
        "two at once: first texts after {:?} and {:?}, both done in {:?}",
        a.first_text,
        b.first_text,
        started.elapsed()
    );
    for answer in [a, b] {
        let done = answer.end.unwrap();
        assert!(done.completion_tokens.unwrap() >= 1);
        assert!(!answer.text.is_empty());
    }
}

/// Resident memory now and at its peak, in MB, from /proc/self/status.
fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Figures for the report: run with `--ignored --nocapture`, in release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a test: run with --ignored --nocapture"]
async fn figures() {
    let Some(path) = model("figures") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    const TOKENS: u32 = 128;
    let question = "Write a long story about a dragon who learns to fly.";
    let (rss_before, _) = memory_mb();
    for max_concurrent in [1usize, 2] {
        let client = Arc::new(client(path.clone(), max_concurrent));
        let started = Instant::now();
        client.warm_up().await.unwrap();
        let load = started.elapsed();
        let (rss, _) = memory_mb();
        println!(
            "slots {max_concurrent} x threads {}: load {load:?}, RSS {rss:.0} MB (before load \
             {rss_before:.0} MB)",
            client.threads()
        );
        // Once to warm caches, then measured.
        answer(client.as_ref(), ask(question, 8)).await.end.unwrap();
        for at_once in 1..=max_concurrent {
            let started = Instant::now();
            let runs = (0..at_once).map(|_| {
                let client = Arc::clone(&client);
                let request = ask(question, TOKENS);
                tokio::spawn(async move { answer(client.as_ref(), request).await })
            });
            let results = futures_util::future::join_all(runs).await;
            let wall = started.elapsed();
            let mut total_tokens = 0;
            for result in results {
                let answer = result.unwrap();
                let done = answer.end.unwrap();
                let tokens = done.completion_tokens.unwrap();
                total_tokens += tokens;
                let ms = done.upstream_total_ms.unwrap() as f64;
                println!(
                    "  {at_once} at once: first text {:?}, {tokens} tokens ({} prompt) in {ms} \
                     ms = {:.1} tok/s",
                    answer.first_text.unwrap_or_default(),
                    done.prompt_tokens.unwrap(),
                    tokens as f64 * 1000.0 / ms
                );
            }
            println!(
                "  {at_once} at once: {total_tokens} tokens in {wall:?} = {:.1} tok/s in all",
                total_tokens as f64 / wall.as_secs_f64()
            );
        }
        // A long prompt: time to first token is mostly prompt processing.
        let mut long = ask(
            &format!("{} {question}", "Alice answers questions. ".repeat(100)),
            8,
        );
        long.num_ctx = 4096;
        let answer = answer(client.as_ref(), long).await;
        let done = answer.end.unwrap();
        let first = answer.first_text.unwrap_or_default();
        println!(
            "  long prompt: {} tokens, first text after {first:?} = {:.0} prompt tok/s",
            done.prompt_tokens.unwrap(),
            done.prompt_tokens.unwrap() as f64 / first.as_secs_f64()
        );
        let (_, peak) = memory_mb();
        println!("  peak RSS so far {peak:.0} MB");
    }
}
