//! The Ollama client against the upstream simulator, over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alice_core::{BackendConfig, ChatMessage, Role};
use alice_llm::{
    ChatEvent, ChatRequest, ErrorKind, FinishReason, LlmError, OllamaClient, Provider,
};
use alice_upstream_sim::{Faults, SimHandle, SimMessage, answer_for};
use futures_util::StreamExt;

async fn sim(faults: Faults) -> SimHandle {
    alice_upstream_sim::spawn_local(faults).await.unwrap()
}

fn client(url: &str, model: &str) -> OllamaClient {
    OllamaClient::new(&BackendConfig {
        url: url.to_owned(),
        model: model.to_owned(),
        ..BackendConfig::default()
    })
    .unwrap()
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

/// Runs a whole generation: the text, and how it ended.
async fn run(client: &OllamaClient, request: ChatRequest) -> (String, Result<ChatEvent, LlmError>) {
    let mut stream = client.chat_stream(request).await.unwrap();
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(ChatEvent::Delta(delta)) => text.push_str(&delta),
            end => return (text, end),
        }
    }
    panic!("the stream ended without Done or an error");
}

#[tokio::test]
async fn a_stream_joins_to_the_whole_answer_and_ends_with_counts() {
    let sim = sim(Faults::default()).await;
    let ollama = client(&sim.base_url(), "gpt-oss:20b");
    let (text, end) = run(&ollama, request(2048)).await;
    let expected = answer_for(&[
        SimMessage::new("system", "Du är Alice."),
        SimMessage::new("user", "Vad heter Sveriges längsta älv?"),
    ]);
    assert_eq!(text, expected);
    let ChatEvent::Done(completion) = end.unwrap() else {
        panic!("expected Done")
    };
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert!(completion.prompt_tokens.unwrap() > 0);
    assert!(completion.completion_tokens.unwrap() > 0);
    let recorded = &sim.requests()[0];
    assert_eq!(recorded.options["num_predict"], 2048);
    assert!(
        recorded.options.get("stop").is_none(),
        "no stop list when there is none"
    );
}

#[tokio::test]
async fn max_tokens_truncates_and_says_so() {
    let sim = sim(Faults::default()).await;
    let (text, end) = run(&client(&sim.base_url(), "gpt-oss:20b"), request(3)).await;
    let ChatEvent::Done(completion) = end.unwrap() else {
        panic!("expected Done")
    };
    assert_eq!(completion.finish_reason, FinishReason::Length);
    assert_eq!(completion.completion_tokens, Some(3));
    assert_eq!(text.split_whitespace().count(), 3);
}

#[tokio::test]
async fn an_error_line_inside_a_200_stream_is_an_error_after_the_text() {
    let sim = sim(Faults {
        mid_stream_error_after: Some(2),
        ..Faults::default()
    })
    .await;
    let (text, end) = run(&client(&sim.base_url(), "gpt-oss:20b"), request(2048)).await;
    assert_eq!(text.split_whitespace().count(), 2);
    let error = end.unwrap_err();
    assert_eq!(error.kind, ErrorKind::StreamBroken);
    assert!(error.detail.contains("simulated failure"), "{error}");
}

#[tokio::test]
async fn statuses_become_error_kinds() {
    let sim = sim(Faults::default()).await;
    let url = sim.base_url();
    for (status, kind) in [
        (
            503,
            ErrorKind::Busy {
                retry_after: None,
                queue: None,
            },
        ),
        (500, ErrorKind::Failed { status: 500 }),
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
    assert!(error.advice.contains("ollama pull okänd:1b"), "{error}");
}

#[tokio::test]
async fn models_context_length_and_probe() {
    let sim = sim(Faults::default()).await;
    let ollama = client(&sim.base_url(), "gpt-oss:20b");
    assert!(
        ollama
            .list_models()
            .await
            .unwrap()
            .contains(&"gpt-oss:20b".to_owned())
    );
    assert_eq!(ollama.context_length().await.unwrap(), Some(8192));
    let health = ollama.probe().await;
    assert!(health.reachable && health.model_available, "{health:?}");
    assert_eq!(health.context_length, Some(8192));

    let missing = client(&sim.base_url(), "mistral:7b").probe().await;
    assert!(missing.reachable && !missing.model_available);
    assert!(missing.error.unwrap().contains("ollama pull mistral:7b"));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = client(&format!("http://127.0.0.1:{port}"), "gpt-oss:20b")
        .probe()
        .await;
    assert!(!down.reachable);
    assert!(down.error.unwrap().contains("ollama serve"));
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
    let client = client(&sim.base_url(), "gpt-oss:20b");
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
    assert_eq!(sent[0].api, alice_upstream_sim::Api::Ollama);
    assert_eq!(sent[0].tools[0]["function"]["name"], "river");

    asking
        .messages
        .push(ChatMessage::tool_calls("", calls.clone()));
    asking
        .messages
        .push(ChatMessage::tool_result(id.clone(), "Torne älv, 520 km"));
    let (text, end) = run(&client, asking).await;
    let Ok(ChatEvent::Done(done)) = end else {
        panic!("{end:?}")
    };
    assert_eq!(done.finish_reason, FinishReason::Stop);
    assert!(
        text.contains("Verktyget svarade: \"Torne älv, 520 km\""),
        "{text}"
    );
}
