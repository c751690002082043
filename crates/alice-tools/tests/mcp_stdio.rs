//! An MCP source over stdio: Alice starts `alice-test-mcp-server` (the tests' MCP server on
//! stdin and stdout, built with the `test-mcp-server` feature) as a child process, lists and
//! calls its tools, gives it only a few variables of its environment, and the child is gone
//! once the source is dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alice_core::config::{BreakerConfig, McpConfig};
use alice_tools::mcp::McpSource;
use alice_tools::{Tool, ToolCall, ToolError};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn call(arguments: Value) -> ToolCall<'static> {
    ToolCall {
        arguments,
        user: None,
        message: "Vad är 17 plus 23?",
        language: "sv",
    }
}

fn tool(source: &McpSource, name: &str) -> Arc<dyn Tool> {
    source
        .tools()
        .into_iter()
        .find(|tool| tool.definition().name == name)
        .unwrap_or_else(|| panic!("{name} is not listed"))
}

/// Whether process `pid` has exited (gone, or a zombie not yet reaped).
fn exited(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(true)
}

#[tokio::test]
async fn a_command_is_started_listed_called_and_stopped_with_the_source() {
    let config = McpConfig {
        name: "lokal".into(),
        command: Some(env!("CARGO_BIN_EXE_alice-test-mcp-server").into()),
        ..McpConfig::default()
    };
    let source = McpSource::start(&config, &BreakerConfig::default(), reqwest::Client::new()).await;
    let mut names: Vec<String> = source
        .tools()
        .iter()
        .map(|tool| tool.definition().name.clone())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "lokal__add",
            "lokal__env",
            "lokal__pid",
            "lokal__slow",
            "lokal__weather"
        ]
    );
    let add = tool(&source, "lokal__add");
    assert_eq!(
        add.definition().parameters["properties"]["a"]["type"],
        "integer"
    );
    assert_eq!(
        add.call(call(json!({"a": 17, "b": 23})))
            .await
            .unwrap()
            .text,
        "40"
    );
    let error = tool(&source, "lokal__weather")
        .call(call(json!({"place": "Atlantis"})))
        .await
        .unwrap_err();
    assert!(matches!(error, ToolError::Refused { .. }), "{error}");

    // Of Alice's environment the child gets PATH and such, not the rest (cargo sets
    // CARGO_MANIFEST_DIR for this test process).
    let env = tool(&source, "lokal__env");
    let var = |name: &'static str| env.call(call(json!({ "name": name })));
    assert_eq!(
        var("PATH").await.unwrap().text,
        std::env::var("PATH").unwrap()
    );
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    assert_eq!(var("CARGO_MANIFEST_DIR").await.unwrap().text, "-");
    drop(env);

    let pid = tool(&source, "lokal__pid")
        .call(call(json!({})))
        .await
        .unwrap()
        .text;
    assert_ne!(pid, std::process::id().to_string(), "the server is a child");
    assert!(!exited(&pid));
    drop((add, source));
    // The child is killed by a task the drop spawned: wait for it (bounded), no timing asserted.
    for _ in 0..200 {
        if exited(&pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(exited(&pid), "the child {pid} outlived its source");
}
