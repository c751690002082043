//! The model calls Alice's tools (`tools.offer_to_model`), over real HTTP with the simulator as
//! the model: Alice's calculator and timers, a webhook and a tool of an MCP server, each called
//! by the model, carried out by Alice, the result fed back and the final answer built on it;
//! the calls kept with the answer's route; and with tools not offered, the model gets none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../crates/alice-tools/tests/support/mcp_server.rs"]
mod mcp_server;

use alice_upstream_sim::{Faults, ToolCalling, ToolRule};
use common::{Alice, config, parse_sse, start_sim};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A simulator whose model calls `tool` with `arguments` when it is offered.
async fn model_calling(tool: &str, arguments: Value) -> alice_upstream_sim::SimHandle {
    start_sim(Faults {
        tool_calls: ToolCalling::Rules(vec![ToolRule {
            tool: tool.into(),
            arguments,
        }]),
        ..Faults::default()
    })
    .await
}

fn offering(mut settings: alice_core::Config) -> alice_core::Config {
    settings.tools.offer_to_model = true;
    settings
}

#[tokio::test]
async fn the_model_uses_alices_calculator_and_answers_with_its_result() {
    let sim = model_calling("calculate", json!({"expression": "17*23"})).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(offering(config(dir.path(), &sim.base_url()))).await;
    let (status, reply) = alice
        .chat(json!({"message": "Räkna ut sjutton gånger tjugotre", "user": "ida"}))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply["response"].as_str().unwrap().contains("391"),
        "{reply}"
    );
    assert_eq!(reply["route"]["kind"], "model");
    let call = &reply["route"]["calls"][0];
    assert_eq!(call["name"], "calculate");
    assert_eq!(call["ok"], true);
    assert_eq!(call["result"], "17 × 23 = 391.");

    let requests = sim.requests();
    assert_eq!(requests.len(), 2, "one round of calls, then the answer");
    let offered: Vec<&str> = requests[0]
        .tools
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        offered,
        ["current_time", "calculate", "set_timer", "recall_memories"]
    );
    let result = requests[1].messages.last().unwrap();
    assert_eq!(result.role, "tool");
    assert_eq!(result.content, "17 × 23 = 391.");

    // Streamed, the same round runs before the first token.
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({"message": "Och igen?", "user": "ida", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = parse_sse(&response.text().await.unwrap());
    let done = events.last().unwrap();
    assert_eq!(done.event, "done", "{events:?}");
    assert!(
        done.data["response"].as_str().unwrap().contains("391"),
        "{done:?}"
    );
    assert_eq!(done.data["route"]["calls"][0]["name"], "calculate");

    // The calls are kept with the stored answer.
    let conversation = reply["conversation_id"].as_str().unwrap();
    let (_, page) = alice
        .get(&format!("/api/db/conversations/{conversation}/messages"))
        .await;
    assert_eq!(
        page["messages"][1]["route"]["calls"][0]["name"],
        "calculate"
    );
    alice.stop().await;
}

#[tokio::test]
async fn a_timer_the_model_sets_rings_in_the_conversation() {
    let sim = model_calling("set_timer", json!({"seconds": 1, "label": "pastan"})).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = offering(config(dir.path(), &sim.base_url()));
    settings.timers.poll_interval = Duration::from_millis(100);
    let alice = Alice::start(settings).await;
    let (status, reply) = alice
        .chat(json!({"message": "Säg till när pastan är klar om en sekund", "user": "jon"}))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["route"]["calls"][0]["ok"], true, "{reply}");
    let conversation = reply["conversation_id"].as_str().unwrap().to_owned();
    let rung = common::until(Duration::from_secs(10), || async {
        let (_, page) = alice
            .get(&format!("/api/db/conversations/{conversation}/messages"))
            .await;
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == "Din timer på 1 sekund för pastan har gått ut.")
    })
    .await;
    assert!(rung, "the timer's message is in the conversation");
    alice.stop().await;
}

/// An MCP server (alice-tools' test server: `add`, `weather`, ...) on 127.0.0.1, over
/// Streamable HTTP, for as long as the test runs.
async fn mcp_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service: StreamableHttpService<mcp_server::TestServer, LocalSessionManager> =
        StreamableHttpService::new(
            || Ok(mcp_server::TestServer::new()),
            Arc::default(),
            StreamableHttpServerConfig::default(),
        );
    let app = axum::Router::new().nest_service("/mcp", service);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/mcp")
}

#[tokio::test]
async fn the_model_calls_a_tool_of_an_mcp_server() {
    let sim = model_calling("matte__add", json!({"a": 17, "b": 23})).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = offering(config(dir.path(), &sim.base_url()));
    settings.tools.mcp.push(alice_core::config::McpConfig {
        name: "matte".into(),
        url: Some(mcp_server().await),
        ..Default::default()
    });
    let alice = Alice::start(settings).await;
    let (status, reply) = alice
        .chat(json!({"message": "Vad blir 17 plus 23?", "user": "kim"}))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply["response"].as_str().unwrap().contains("40"),
        "{reply}"
    );
    assert_eq!(reply["route"]["calls"][0]["name"], "matte__add");
    let offered: Vec<String> = sim.requests()[0]
        .tools
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        offered.contains(&"matte__weather".to_owned()),
        "{offered:?}"
    );
    alice.stop().await;
}

#[tokio::test]
async fn without_offer_to_model_the_model_gets_no_tools() {
    let sim = model_calling("calculate", json!({"expression": "1+1"})).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let (status, reply) = alice
        .chat(json!({"message": "Räkna ut ett plus ett", "user": "lo"}))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert!(sim.requests()[0].tools.is_empty());
    assert!(reply["route"].get("calls").is_none(), "{reply}");
    alice.stop().await;
}
