//! The embedded backend with a real GGUF model. Runs when `ALICE_TEST_EMBEDDED_MODEL` names the
//! file (`scripts/fetch-model.sh` puts SmolLM2-135M-Instruct at
//! data/models/SmolLM2-135M-Instruct.Q4_1.gguf); otherwise every test prints that it was
//! skipped. Answers are greedy (temperature 0), so they are the same on every run; the tests
//! assert on behaviour, not on the tiny model's wording. Tests run one at a time (they share
//! the machine's cores), and every generation is bounded by a small `max_tokens`.
//!
//! `bench/embedded-batch.sh` (the `figures` test, ignored, in a release build) prints total
//! tokens/s at 1, 2, 4 and 8 answers at once, prompt tokens/s, a newcomer's first token alone
//! and joining running answers, the first token of turns 1-10 of a conversation with the
//! prompt cache on and off, and memory.
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

/// A client with the prompt cache on (the default) or off.
fn client_cached(path: PathBuf, max_concurrent: usize, cache: bool) -> EmbeddedClient {
    let mut config = config(path, max_concurrent);
    if !cache {
        config.prompt_cache_mib = 0;
    }
    EmbeddedClient::new(&config).unwrap()
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
        tools: Vec::new(),
        tool_choice: None,
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
            // The embedded model is offered no tools, so it calls none.
            Ok(RoutedEvent::Started(_) | RoutedEvent::ToolCalls(_)) => {}
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

/// Waits (at most 30 s) until `test` holds.
async fn until(test: impl Fn() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if test() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    test()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_answers_at_once_are_the_same_greedy_text_as_each_alone() {
    let Some(path) = model("four_answers_at_once_are_the_same_greedy_text_as_each_alone") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    // The cache off: every answer reads its whole prompt, alone and together.
    let client = Arc::new(client_cached(path, 4, false));
    let questions = [
        "What is the capital of France?",
        "Name three colours.",
        "Write a long story about a dragon.",
        "Why is the sky blue?",
    ];
    let mut alone = Vec::new();
    for question in questions {
        let answer = answer(client.as_ref(), ask(question, 32)).await;
        answer.end.unwrap();
        alone.push(answer.text);
    }
    let together = futures_util::future::join_all(questions.map(|question| {
        let client = Arc::clone(&client);
        tokio::spawn(async move { answer(client.as_ref(), ask(question, 32)).await })
    }))
    .await;
    for ((question, alone), together) in questions.iter().zip(alone).zip(together) {
        let together = together.unwrap();
        together.end.unwrap();
        println!("{question:?}: {alone:?}");
        assert_eq!(together.text, alone, "{question:?}");
    }
    assert_eq!(alice_llm::embedded::running_answers(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_answer_frees_its_sequence_while_the_others_go_on() {
    let Some(path) = model("a_dropped_answer_frees_its_sequence_while_the_others_go_on") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    // Two sequences: one for the answer that goes on, one for the answer that is dropped, then
    // for a third that can only start once the dropped one's sequence is free.
    let client = Arc::new(client_cached(path, 2, false));
    client.warm_up().await.unwrap();
    let long = ask("Write a long story about a dragon.", 400);
    let going_on = {
        let client = Arc::clone(&client);
        let request = long.clone();
        tokio::spawn(async move { answer(client.as_ref(), request).await })
    };
    let mut dropped = client
        .chat_stream(ask("Write a long story about a cat.", 400))
        .await
        .unwrap();
    let mut deltas = 0;
    while deltas < 3 {
        if let Some(Ok(alice_llm::ChatEvent::Delta(_))) = dropped.next().await {
            deltas += 1;
        }
    }
    assert_eq!(alice_llm::embedded::running_answers(), 2);
    drop(dropped);
    assert!(
        until(|| alice_llm::embedded::running_answers() == 1).await,
        "the dropped answer's sequence is freed"
    );
    let third = answer(client.as_ref(), ask("What is the capital of France?", 16)).await;
    third.end.unwrap();
    assert!(third.text.contains("Paris"), "{:?}", third.text);
    assert!(!going_on.is_finished(), "the long answer is still going");
    let going_on = going_on.await.unwrap();
    let done = going_on.end.unwrap();
    assert_eq!(done.finish_reason, FinishReason::Length);
    assert_eq!(done.completion_tokens, Some(400));
    let alone = answer(client.as_ref(), long).await;
    assert_eq!(going_on.text, alone.text, "undisturbed by the others");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_ends_one_answer_only() {
    let Some(path) = model("a_deadline_ends_one_answer_only") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let client = Arc::new(client(path, 2));
    client.warm_up().await.unwrap();
    let mut short_lived = ask("Write a long story about a dragon.", 1000);
    short_lived.stream_deadline = Some(Instant::now() + Duration::from_millis(500));
    let mut going_on = ask("Write a long story about a cat.", 400);
    going_on.stream_deadline = Some(Instant::now() + Duration::from_secs(120));
    let (short_lived, going_on) = tokio::join!(
        answer(client.as_ref(), short_lived),
        answer(client.as_ref(), going_on)
    );
    let error = short_lived.end.unwrap_err();
    assert_eq!(error.kind, ErrorKind::TimedOut, "{error}");
    let done = going_on.end.unwrap();
    assert_eq!(done.completion_tokens, Some(400), "{done:?}");
    assert!(going_on.text.len() > short_lived.text.len());
}

/// A conversation's next turn: its history, the answer, and a new question.
fn next_turn(mut messages: Vec<ChatMessage>, answer: &str, question: &str) -> Vec<ChatMessage> {
    messages.push(ChatMessage::new(Role::Assistant, answer));
    messages.push(ChatMessage::new(Role::User, question));
    messages
}

fn asking(messages: &[ChatMessage], max_tokens: u32) -> ChatRequest {
    let mut request = ask("", max_tokens);
    request.messages = messages.to_vec();
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_turn_reuses_its_history_and_a_changed_history_is_read_again() {
    let Some(path) = model("the_next_turn_reuses_its_history_and_a_changed_history_is_read_again")
    else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let cached = client_cached(path.clone(), 2, true);
    let cold = client_cached(path, 2, false);
    let system = ChatMessage::new(Role::System, "You are a helpful AI assistant named Alice.");
    let turn_1 = vec![
        system.clone(),
        ChatMessage::new(Role::User, "What is the capital of France?"),
    ];
    let first = answer(&cached, asking(&turn_1, 24)).await;
    first.end.unwrap();
    assert_eq!(cached.prompt_tokens_reused(), 0);

    // Turn 2: its history is turn 1's prompt and answer, read from memory.
    let turn_2 = next_turn(turn_1.clone(), &first.text, "And of Germany?");
    let with_cache = answer(&cached, asking(&turn_2, 24)).await;
    let done = with_cache.end.unwrap();
    let reused = cached.prompt_tokens_reused();
    let prompt_1 = cached.count_prompt_tokens(&turn_1).await.unwrap() as u64;
    println!(
        "turn 2: {reused} of {} prompt tokens reused: {:?}",
        done.prompt_tokens.unwrap(),
        with_cache.text
    );
    assert!(reused >= prompt_1, "at least turn 1's prompt is reused");
    let without = answer(&cold, asking(&turn_2, 24)).await;
    without.end.unwrap();
    assert_eq!(with_cache.text, without.text, "the cache changes no answer");
    assert_eq!(cold.prompt_tokens_reused(), 0, "the cache is off");

    // The history edited (its first question) and trimmed (turn 1 left out): only what the
    // prompt shares with memory is reused, and the answers are those of a cold run.
    let mut edited = turn_2.clone();
    edited[1] = ChatMessage::new(Role::User, "What is the capital of Italy?");
    let trimmed = vec![system, ChatMessage::new(Role::User, "And of Germany?")];
    for (what, messages) in [("edited", edited), ("trimmed", trimmed)] {
        let before = cached.prompt_tokens_reused();
        let with_cache = answer(&cached, asking(&messages, 24)).await;
        with_cache.end.unwrap();
        let reused = cached.prompt_tokens_reused() - before;
        let without = answer(&cold, asking(&messages, 24)).await;
        without.end.unwrap();
        println!("{what}: {reused} tokens reused: {:?}", with_cache.text);
        assert!(reused < prompt_1, "{what}: only the shared start is reused");
        assert_eq!(with_cache.text, without.text, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_whose_sequence_was_taken_gets_its_history_back_from_host_memory() {
    let Some(path) =
        model("a_conversation_whose_sequence_was_taken_gets_its_history_back_from_host_memory")
    else {
        return;
    };
    let _serial = SERIAL.lock().await;
    // One sequence: conversation b's first turn overwrites conversation a's tokens, which are
    // saved to host memory first, and put back for a's second turn.
    let cached = client_cached(path.clone(), 1, true);
    let cold = client_cached(path, 1, false);
    let system = ChatMessage::new(Role::System, "You are a helpful AI assistant named Alice.");
    let a_1 = vec![
        system.clone(),
        ChatMessage::new(Role::User, "Write a long story about a dragon."),
    ];
    let b_1 = vec![
        system,
        ChatMessage::new(Role::User, "Write a long story about a cat."),
    ];
    let a_first = answer(&cached, asking(&a_1, 96)).await;
    a_first.end.unwrap();
    answer(&cached, asking(&b_1, 96)).await.end.unwrap();
    let before = cached.prompt_tokens_reused();
    let a_2 = next_turn(a_1.clone(), &a_first.text, "What happened next?");
    let with_cache = answer(&cached, asking(&a_2, 24)).await;
    with_cache.end.unwrap();
    let reused = cached.prompt_tokens_reused() - before;
    let prompt_1 = cached.count_prompt_tokens(&a_1).await.unwrap() as u64;
    println!("a's turn 2: {reused} tokens reused: {:?}", with_cache.text);
    // b's tokens share less than a's first prompt (b asks about a cat); more came back from
    // a's saved copy (its answer's tokens, up to where the stored text tokenizes otherwise).
    assert!(reused > prompt_1, "a's first turn came back: {reused}");
    let without = answer(&cold, asking(&a_2, 24)).await;
    without.end.unwrap();
    assert_eq!(with_cache.text, without.text);
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

/// A newcomer's first text alone, then while 3 long answers run on `client`.
async fn newcomer(client: &Arc<EmbeddedClient>, question: &str) -> (Duration, Duration) {
    let newcomer = "What is the capital of France?";
    let alone = answer(client.as_ref(), ask(newcomer, 8)).await;
    alone.end.unwrap();
    let mut started_five = Vec::new();
    let running: Vec<_> = (0..3)
        .map(|i| {
            let client = Arc::clone(client);
            let request = ask(&format!("{question} Part {i}."), 400);
            let (five_tx, five_rx) = tokio::sync::oneshot::channel();
            started_five.push(five_rx);
            tokio::spawn(async move {
                let mut stream = client.chat_stream(request).await.unwrap();
                let mut five = Some(five_tx);
                let mut deltas = 0;
                while let Some(Ok(_)) = stream.next().await {
                    deltas += 1;
                    if deltas == 5
                        && let Some(five) = five.take()
                    {
                        let _ = five.send(());
                    }
                }
            })
        })
        .collect();
    for five in started_five {
        five.await.unwrap();
    }
    let joined = answer(client.as_ref(), ask(newcomer, 8)).await;
    joined.end.unwrap();
    for run in running {
        run.abort();
    }
    (
        alone.first_text.unwrap_or_default(),
        joined.first_text.unwrap_or_default(),
    )
}

/// A user message of about 80 tokens for turn `turn` of a growing conversation.
fn long_turn(turn: usize) -> String {
    format!(
        "Turn {turn}. Here is some more about my garden: the apple tree by the fence has \
         started to lose its leaves, the roses near the door need water every morning, and \
         the small pond in the corner has three goldfish that hide under the lily pads when \
         it rains. What should I do in the garden this week?"
    )
}

/// Figures for docs/benchmarks.md: run with `--release --ignored --nocapture` (the numbers
/// depend on the build profile and on what else runs on the machine; nothing is asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a test: run with --release --ignored --nocapture"]
async fn figures() {
    let Some(path) = model("figures") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    const TOKENS: u32 = 128;
    let question = "Write a long story about a dragon who learns to fly.";
    let (rss_before, _) = memory_mb();
    println!("RSS before any model: {rss_before:.0} MB");

    // Total tokens/s with 1, 2, 4 and 8 answers at once, each backend with that many slots
    // (and the prompt cache off).
    for at_once in [1usize, 2, 4, 8] {
        let client = Arc::new(client_cached(path.clone(), at_once, false));
        let started = Instant::now();
        client.warm_up().await.unwrap();
        let load = started.elapsed();
        // Once to warm caches, then measured.
        answer(client.as_ref(), ask(question, 8)).await.end.unwrap();
        let started = Instant::now();
        let runs = (0..at_once).map(|i| {
            let client = Arc::clone(&client);
            let request = ask(&format!("{question} Version {i}."), TOKENS);
            tokio::spawn(async move { answer(client.as_ref(), request).await })
        });
        let results = futures_util::future::join_all(runs).await;
        let wall = started.elapsed();
        let mut total_tokens = 0;
        let mut firsts = Vec::new();
        for result in results {
            let answer = result.unwrap();
            let done = answer.end.unwrap();
            total_tokens += done.completion_tokens.unwrap();
            firsts.push(answer.first_text.unwrap_or_default());
        }
        let (rss, peak) = memory_mb();
        println!(
            "{at_once} at once (max_concurrent {at_once}, load {load:?}): {total_tokens} tokens \
             in {wall:?} = {:.1} tok/s in all; first texts {firsts:?}; RSS {rss:.0} MB, peak \
             {peak:.0} MB",
            total_tokens as f64 / wall.as_secs_f64()
        );
    }

    // The prompt cache off: every prompt below is read whole.
    let client = Arc::new(client_cached(path.clone(), 4, false));
    client.warm_up().await.unwrap();
    answer(client.as_ref(), ask(question, 8)).await.end.unwrap();

    // A long prompt: time to first token is mostly prompt reading.
    let mut long = ask(
        &format!("{} {question}", "Alice answers questions. ".repeat(100)),
        1,
    );
    long.num_ctx = 2048;
    let started = Instant::now();
    let done = answer(client.as_ref(), long).await.end.unwrap();
    let took = started.elapsed();
    println!(
        "long prompt alone: {} tokens, answered (1 token) after {took:?} = {:.0} prompt tok/s",
        done.prompt_tokens.unwrap(),
        done.prompt_tokens.unwrap() as f64 / took.as_secs_f64()
    );

    // A newcomer's first token: alone, then while 3 long answers are running; three rounds.
    for round in 1..=3 {
        let (alone, joined) = newcomer(&client, question).await;
        println!(
            "round {round}: newcomer's first text alone {alone:?}, joining 3 running answers \
             {joined:?}"
        );
    }

    // The first token of each turn of a growing conversation (about 130 tokens a turn), with
    // the prompt cache on and off.
    for cache in [true, false] {
        let client = client_cached(path.clone(), 4, cache);
        // A first answer to warm the engine, sharing no history with the conversation.
        answer(&client, ask("Name three colours.", 8))
            .await
            .end
            .unwrap();
        let mut messages = vec![ChatMessage::new(
            Role::System,
            "You are a helpful AI assistant named Alice.",
        )];
        for turn in 1..=10 {
            messages.push(ChatMessage::new(Role::User, long_turn(turn)));
            let reused = client.prompt_tokens_reused();
            let reply = answer(&client, asking(&messages, 48)).await;
            let done = reply.end.unwrap();
            println!(
                "cache {}: turn {turn}: {} prompt tokens ({} reused), first text after {:?}",
                if cache { "on" } else { "off" },
                done.prompt_tokens.unwrap(),
                client.prompt_tokens_reused() - reused,
                reply.first_text.unwrap_or_default()
            );
            messages.push(ChatMessage::new(Role::Assistant, reply.text));
        }
    }
    let (rss, peak) = memory_mb();
    println!("RSS at the end {rss:.0} MB, peak {peak:.0} MB");
}
