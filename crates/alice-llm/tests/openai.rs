//! The OpenAI-compatible client against the upstream simulator (its `/v1` side), over real
//! HTTP, plus a bare TCP stand-in for what the simulator does not show: the request's headers
//! and a `Retry-After`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alice_core::{BackendConfig, BackendKind, ChatMessage, Role};
use alice_llm::{
    ChatEvent, ChatRequest, ErrorKind, FinishReason, LlmError, OpenAiClient, Provider,
};
use alice_upstream_sim::{Api, Faults, SimHandle, SimMessage, answer_for};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

async fn sim(faults: Faults) -> SimHandle {
    alice_upstream_sim::spawn_local(faults).await.unwrap()
}

fn config(url: &str, model: &str, api_key_env: Option<&str>) -> BackendConfig {
    BackendConfig {
        name: "cloud".to_owned(),
        kind: BackendKind::Openai,
        url: url.to_owned(),
        model: model.to_owned(),
        api_key_env: api_key_env.map(str::to_owned),
        ..BackendConfig::default()
    }
}

fn client(url: &str, model: &str) -> OpenAiClient {
    OpenAiClient::new(&config(url, model, None)).unwrap()
}

fn v1(sim: &SimHandle) -> String {
    format!("{}/v1", sim.base_url())
}

fn request(max_tokens: u32) -> ChatRequest {
    ChatRequest {
        messages: vec![
            ChatMessage::new(Role::System, "Du är Alice."),
            ChatMessage::new(Role::User, "Vad heter Sveriges längsta älv?"),
        ],
        max_tokens,
        temperature: 0.3,
        num_ctx: 4096,
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

/// Runs a whole generation: the text, how many deltas, and how it ended.
async fn run(
    client: &OpenAiClient,
    request: ChatRequest,
) -> (String, usize, Result<ChatEvent, LlmError>) {
    let mut stream = client.chat_stream(request).await.unwrap();
    let mut text = String::new();
    let mut deltas = 0;
    while let Some(event) = stream.next().await {
        match event {
            Ok(ChatEvent::Delta(delta)) => {
                deltas += 1;
                text.push_str(&delta);
            }
            end => {
                assert!(stream.next().await.is_none(), "nothing may follow the end");
                return (text, deltas, end);
            }
        }
    }
    panic!("the stream ended without Done or an error");
}

/// A one-shot HTTP server: reads one request, answers `response` verbatim, and hands back the
/// request's head (request line and headers) as text.
async fn canned(response: String) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        // Read the head, then as much body as it announces, so the client is done sending.
        let head_end = loop {
            let n = socket.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the client closed before sending a request");
            received.extend_from_slice(&buffer[..n]);
            if let Some(i) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while received.len() < head_end + length {
            let n = socket.read(&mut buffer).await.unwrap();
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..n]);
        }
        socket.write_all(response.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
        head
    });
    (url, task)
}

/// A whole JSON response with its status line, extra header lines and a right Content-Length.
fn json_response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}content-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The value of a header in a request head, by case-insensitive name.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, value) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn expected_answer() -> String {
    answer_for(&[
        SimMessage::new("system", "Du är Alice."),
        SimMessage::new("user", "Vad heter Sveriges längsta älv?"),
    ])
}

#[tokio::test]
async fn a_stream_joins_to_the_whole_answer_and_ends_with_usage() {
    let sim = sim(Faults::default()).await;
    let cloud = client(&format!("{}/", v1(&sim)), "gpt-oss:20b");
    assert_eq!(cloud.url(), v1(&sim), "the trailing slash is dropped");
    assert_eq!((cloud.name(), cloud.model()), ("cloud", "gpt-oss:20b"));
    let (text, deltas, end) = run(&cloud, request(2048)).await;
    assert_eq!(text, expected_answer());
    assert!(deltas > 1, "the answer arrives in pieces");
    let ChatEvent::Done(completion) = end.unwrap() else {
        panic!("expected Done")
    };
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert!(completion.prompt_tokens.unwrap() > 0);
    assert_eq!(
        completion.completion_tokens.unwrap(),
        alice_upstream_sim::tokenize(&text).len() as u64
    );
    assert_eq!(completion.upstream_total_ms, None);

    let recorded = &sim.requests()[0];
    assert_eq!(recorded.api, Api::OpenAi);
    assert!(recorded.stream);
    assert_eq!(
        recorded.messages[1].content,
        "Vad heter Sveriges längsta älv?"
    );
    assert_eq!(recorded.options["max_tokens"], 2048);
    assert!(
        recorded.options.get("stop").is_none(),
        "no stop list when there is none"
    );
}

#[tokio::test]
async fn stop_sequences_are_sent_when_there_are_some() {
    let sim = sim(Faults::default()).await;
    let mut with_stop = request(2048);
    with_stop.stop = vec!["\n\n".to_owned()];
    let (_, _, end) = run(&client(&v1(&sim), "gpt-oss:20b"), with_stop).await;
    assert!(matches!(end, Ok(ChatEvent::Done(_))), "{end:?}");
    assert_eq!(
        sim.requests()[0].options["stop"],
        serde_json::json!(["\n\n"])
    );
}

#[tokio::test]
async fn max_tokens_truncates_and_says_so() {
    let sim = sim(Faults::default()).await;
    let (text, _, end) = run(&client(&v1(&sim), "gpt-oss:20b"), request(3)).await;
    let ChatEvent::Done(completion) = end.unwrap() else {
        panic!("expected Done")
    };
    assert_eq!(completion.finish_reason, FinishReason::Length);
    assert_eq!(completion.completion_tokens, Some(3));
    assert_eq!(text.split_whitespace().count(), 3);
}

#[tokio::test]
async fn an_error_event_inside_a_200_stream_is_an_error_after_the_text() {
    let sim = sim(Faults {
        mid_stream_error_after: Some(2),
        ..Faults::default()
    })
    .await;
    let (text, deltas, end) = run(&client(&v1(&sim), "gpt-oss:20b"), request(2048)).await;
    assert_eq!(deltas, 2);
    assert_eq!(text.split_whitespace().count(), 2);
    let error = end.unwrap_err();
    assert_eq!(error.kind, ErrorKind::StreamBroken);
    assert!(
        error.detail.contains("simulated failure after 2 tokens"),
        "{error}"
    );
}

#[tokio::test]
async fn statuses_become_error_kinds() {
    let sim = sim(Faults::default()).await;
    let url = v1(&sim);
    for (status, kind) in [
        (
            503,
            ErrorKind::Busy {
                retry_after: None,
                queue: None,
            },
        ),
        (500, ErrorKind::Failed { status: 500 }),
        (400, ErrorKind::Rejected { status: 400 }),
    ] {
        sim.set_faults(Faults {
            error_rate: 1.0,
            error_status: status,
            ..Faults::default()
        });
        let error = client(&url, "gpt-oss:20b")
            .chat_stream(request(10))
            .await
            .err()
            .unwrap();
        assert_eq!(error.kind, kind);
        assert!(error.detail.contains(&status.to_string()), "{error}");
    }
    sim.set_faults(Faults::default());
    let error = client(&url, "okänd:1b")
        .chat_stream(request(10))
        .await
        .err()
        .unwrap();
    assert_eq!(error.kind, ErrorKind::ModelNotFound);
    assert!(
        error.detail.contains("okänd:1b"),
        "the server's message: {error}"
    );
    assert!(
        error.detail.contains("model_not_found"),
        "the server's code: {error}"
    );
    assert!(error.advice.contains("backends[].model"), "{error}");
}

#[tokio::test]
async fn an_unreachable_server_is_named_with_the_keys_to_fix() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let error = client(&url, "gpt-oss:20b")
        .chat_stream(request(10))
        .await
        .err()
        .unwrap();
    assert_eq!(error.kind, ErrorKind::Unreachable);
    for needle in [url.as_str(), "backends[].url", "api_key_env"] {
        assert!(error.advice.contains(needle), "{needle} missing: {error}");
    }
}

#[tokio::test]
async fn the_key_is_sent_as_a_bearer_header_and_never_shown() {
    // Edition 2024 makes `set_var` unsafe and the workspace forbids unsafe code, so the key is
    // a variable cargo always sets for a test run.
    let key = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    // No Content-Length: the body ends when the connection closes, as streams do.
    let (url, head) = canned(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n\
         data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hej\"}}]}\r\n\r\n\
         data: [DONE]\r\n\r\n"
            .to_owned(),
    )
    .await;
    let cloud = OpenAiClient::new(&config(&url, "m", Some("CARGO_MANIFEST_DIR"))).unwrap();
    assert!(
        !format!("{cloud:?}").contains(&key),
        "Debug must not show the key"
    );
    let (text, _, end) = run(&cloud, request(10)).await;
    assert_eq!(text, "Hej");
    assert!(matches!(end, Ok(ChatEvent::Done(_))));
    let head = head.await.unwrap();
    assert!(head.starts_with("POST /v1/chat/completions "), "{head}");
    assert_eq!(
        header(&head, "authorization"),
        Some(format!("Bearer {key}").as_str())
    );
}

#[tokio::test]
async fn a_missing_key_variable_is_no_failure_and_sends_no_header() {
    let (url, head) = canned(json_response(
        "401 Unauthorized",
        "",
        r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
    ))
    .await;
    let variable = "ALICE_TEST_OPENAI_KEY_THAT_IS_NEVER_SET";
    let cloud = OpenAiClient::new(&config(&url, "m", Some(variable))).unwrap();
    let error = cloud.chat_stream(request(10)).await.err().unwrap();
    assert_eq!(error.kind, ErrorKind::Rejected { status: 401 });
    assert!(
        error.detail.contains("Incorrect API key provided"),
        "{error}"
    );
    assert!(
        error.advice.contains(variable),
        "the advice names the variable: {error}"
    );
    assert_eq!(header(&head.await.unwrap(), "authorization"), None);
}

#[tokio::test]
async fn busy_with_retry_after_is_read() {
    let (url, _head) = canned(json_response(
        "429 Too Many Requests",
        "retry-after: 7\r\n",
        r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
    ))
    .await;
    let error = client(&url, "m")
        .chat_stream(request(10))
        .await
        .err()
        .unwrap();
    assert_eq!(
        error.kind,
        ErrorKind::Busy {
            retry_after: Some(Duration::from_secs(7)),
            queue: None,
        }
    );
    assert!(error.detail.contains("Rate limit reached"), "{error}");
}

#[tokio::test]
async fn a_server_that_ignores_stream_true_is_a_protocol_error() {
    let (url, _head) = canned(json_response(
        "200 OK",
        "",
        r#"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hej"},"finish_reason":"stop"}]}"#,
    ))
    .await;
    let error = client(&url, "m")
        .chat_stream(request(10))
        .await
        .err()
        .unwrap();
    assert_eq!(error.kind, ErrorKind::Protocol);
    assert!(error.detail.contains("event stream"), "{error}");
}

#[tokio::test]
async fn probe_healthy_model_missing_and_unreachable() {
    let sim = sim(Faults::default()).await;
    let cloud = client(&v1(&sim), "gpt-oss:20b");
    assert!(
        cloud
            .list_models()
            .await
            .unwrap()
            .contains(&"llama3.2:3b".to_owned())
    );
    let health = cloud.probe().await;
    assert!(health.reachable && health.model_available, "{health:?}");
    assert_eq!(health.context_length, None);
    assert_eq!(health.error, None);

    let missing = client(&v1(&sim), "gpt-4o-mini").probe().await;
    assert!(missing.reachable && !missing.model_available, "{missing:?}");
    let error = missing.error.unwrap();
    assert!(
        error.contains("gpt-oss:20b"),
        "lists what there is: {error}"
    );
    assert!(
        error.contains("backends[].model"),
        "says what to do: {error}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = client(&format!("http://127.0.0.1:{port}/v1"), "gpt-oss:20b")
        .probe()
        .await;
    assert!(!down.reachable && !down.model_available, "{down:?}");
    assert!(down.error.unwrap().contains("backends[].url"));
}

/// Offered a tool, the simulator's model calls it: the client yields the call whole, then
/// `Done` with `ToolCalls`; with the result sent back it answers with text quoting it.
#[tokio::test]
async fn an_offered_tool_is_called_and_its_result_answered() {
    use alice_core::{ToolCall, ToolSpec};
    use alice_upstream_sim::{ToolCalling, ToolRule};
    let sim = sim(Faults {
        tool_calls: ToolCalling::Rules(vec![ToolRule {
            tool: "river".into(),
            arguments: serde_json::json!({"land": "Sverige", "längd": "km"}),
        }]),
        ..Faults::default()
    })
    .await;
    let client = client(&v1(&sim), "gpt-oss:20b");
    let mut asking = request(64);
    asking.tools = vec![ToolSpec {
        name: "river".into(),
        description: "Fakta om älvar".into(),
        parameters: serde_json::json!({"type": "object"}),
    }];
    let mut stream = client.chat_stream(asking.clone()).await.unwrap();
    let Some(Ok(ChatEvent::ToolCalls(calls))) = stream.next().await else {
        panic!("expected the call first")
    };
    let Some(Ok(ChatEvent::Done(done))) = stream.next().await else {
        panic!("expected Done after the call")
    };
    assert!(stream.next().await.is_none());
    assert_eq!(done.finish_reason, FinishReason::ToolCalls);
    assert_eq!(calls.len(), 1);
    let ToolCall {
        id,
        name,
        arguments,
    } = &calls[0];
    assert_eq!(name, "river");
    assert!(!id.is_empty());
    let arguments: serde_json::Value = serde_json::from_str(arguments).unwrap();
    assert_eq!(
        arguments,
        serde_json::json!({"land": "Sverige", "längd": "km"})
    );
    let sent = sim.requests();
    assert_eq!(sent[0].api, alice_upstream_sim::Api::OpenAi);
    assert_eq!(sent[0].tools[0]["function"]["name"], "river");

    asking
        .messages
        .push(ChatMessage::tool_calls("", calls.clone()));
    asking
        .messages
        .push(ChatMessage::tool_result(id.clone(), "Torne älv, 520 km"));
    let (text, _, end) = run(&client, asking).await;
    let Ok(ChatEvent::Done(done)) = end else {
        panic!("{end:?}")
    };
    assert_eq!(done.finish_reason, FinishReason::Stop);
    assert!(
        text.contains("Verktyget svarade: \"Torne älv, 520 km\""),
        "{text}"
    );
}
