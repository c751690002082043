//! MCP sources against a real MCP server (rmcp's server side, tests/support/mcp_server.rs)
//! over Streamable HTTP on 127.0.0.1: its tools listed with their schemas and called, an
//! `isError` result and a timeout, a server that stops (calls fail, the breaker opens, and
//! while it is open nothing is tried), and a server down at start-up that does not stop the
//! toolbox from being built, its webhooks from working, or its tools from coming later.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mcp_server.rs"]
mod mcp_server;

use alice_core::config::{BreakerConfig, McpConfig, ToolsConfig, WebhookConfig};
use alice_llm::BreakerState;
use alice_tools::mcp::McpSource;
use alice_tools::{Tool, ToolCall, ToolError, Toolbox};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The test MCP server on its own thread and runtime: stopping it drops the runtime, which
/// closes the listener and every connection (as a server that exits does).
struct HttpServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    /// Serves on `addr` (a free port when its port is 0) at `/mcp`.
    fn start(addr: SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let service: StreamableHttpService<mcp_server::TestServer, LocalSessionManager> =
                    StreamableHttpService::new(
                        || Ok(mcp_server::TestServer::new()),
                        Arc::default(),
                        StreamableHttpServerConfig::default(),
                    );
                let app = axum::Router::new().nest_service("/mcp", service);
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::spawn(async move { axum::serve(listener, app).await });
                let _ = stopped.await;
            });
        });
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Stops it: nothing listens on its port afterwards.
    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn source_config(url: String) -> McpConfig {
    McpConfig {
        name: "rakna".into(),
        url: Some(url),
        timeout: Duration::from_millis(500),
        ..McpConfig::default()
    }
}

fn breaker() -> BreakerConfig {
    BreakerConfig {
        min_requests: 3,
        failure_rate: 0.5,
        open_for: Duration::from_secs(60),
        ..BreakerConfig::default()
    }
}

fn call(arguments: Value) -> ToolCall<'static> {
    ToolCall {
        arguments,
        user: Some("anna"),
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

#[tokio::test]
async fn its_tools_are_listed_with_their_schemas_and_answer() {
    let server = HttpServer::start("127.0.0.1:0".parse().unwrap());
    let source = McpSource::start(
        &source_config(server.url()),
        &breaker(),
        reqwest::Client::new(),
    )
    .await;

    let mut names: Vec<String> = source
        .tools()
        .iter()
        .map(|tool| tool.definition().name.clone())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "rakna__add",
            "rakna__env",
            "rakna__pid",
            "rakna__slow",
            "rakna__weather"
        ]
    );
    let add = tool(&source, "rakna__add");
    let definition = add.definition();
    assert_eq!(definition.description, "Adds two integers.");
    assert_eq!(definition.parameters["type"], "object");
    assert_eq!(definition.parameters["properties"]["a"]["type"], "integer");
    assert_eq!(
        definition.parameters["properties"]["b"]["description"],
        "The second term."
    );
    assert_eq!(definition.parameters["required"], json!(["a", "b"]));
    assert_eq!(add.class(), alice_tools::ToolClass::Other);

    let answer = add.call(call(json!({"a": 17, "b": 23}))).await.unwrap();
    assert_eq!(answer.text, "40");

    let weather = tool(&source, "rakna__weather");
    let answer = weather
        .call(call(json!({"place": "Göteborg"})))
        .await
        .unwrap();
    assert_eq!(answer.text, "Sol och 20 grader i Göteborg.");
    assert_eq!(answer.data, json!({"place": "Göteborg", "temp_c": 20}));
    assert_eq!(source.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn an_error_result_a_refusal_and_a_timeout_are_tool_errors() {
    let server = HttpServer::start("127.0.0.1:0".parse().unwrap());
    let source = McpSource::start(
        &source_config(server.url()),
        &breaker(),
        reqwest::Client::new(),
    )
    .await;

    let error = tool(&source, "rakna__weather")
        .call(call(json!({"place": "Atlantis"})))
        .await
        .unwrap_err();
    assert!(matches!(error, ToolError::Refused { .. }), "{error}");
    assert!(error.to_string().contains("Okänd ort: Atlantis"), "{error}");
    assert!(error.to_string().contains("rakna__weather"), "{error}");

    // Arguments the schema does not allow: the server answers a JSON-RPC error.
    let error = tool(&source, "rakna__add")
        .call(call(json!({"a": "sjutton"})))
        .await
        .unwrap_err();
    assert!(matches!(error, ToolError::Refused { .. }), "{error}");

    let error = tool(&source, "rakna__slow")
        .call(call(json!({})))
        .await
        .unwrap_err();
    assert!(matches!(error, ToolError::Timeout { .. }), "{error}");
    // Refusals say the server is up; one timeout is under min_requests.
    assert_eq!(source.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn a_stopped_server_fails_the_calls_opens_the_breaker_and_is_then_left_alone() {
    let mut server = HttpServer::start("127.0.0.1:0".parse().unwrap());
    let addr = server.addr;
    let source = McpSource::start(
        &source_config(server.url()),
        &breaker(),
        reqwest::Client::new(),
    )
    .await;
    // Connected and listed (no call yet: every outcome counts for the breaker's rate).
    let add = tool(&source, "rakna__add");

    server.stop();
    for _ in 0..3 {
        let error = add.call(call(json!({"a": 17, "b": 23}))).await.unwrap_err();
        assert!(matches!(error, ToolError::Unreachable { .. }), "{error}");
    }
    assert_eq!(source.breaker_state(), BreakerState::Open);

    // Something listens on the port again: while the breaker is open, neither calls nor a
    // reconnection reach it.
    let listener = std::net::TcpListener::bind(addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    for _ in 0..5 {
        let error = add.call(call(json!({"a": 17, "b": 23}))).await.unwrap_err();
        assert!(matches!(error, ToolError::Open { .. }), "{error}");
    }
    source.reconnect().await;
    let attempt = listener.accept().map(|_| ()).unwrap_err();
    assert_eq!(
        attempt.kind(),
        std::io::ErrorKind::WouldBlock,
        "no connection was attempted"
    );
    // Its tools are still known from the last listing.
    assert_eq!(source.tools().len(), 5);
}

/// A webhook on 127.0.0.1 that says the weather.
async fn webhook() -> WebhookConfig {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async { axum::Json(json!({"text": "Regn i Malmö."})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    WebhookConfig {
        name: "vader".into(),
        url: format!("http://{addr}/hook"),
        integration: Some("weather".into()),
        ..WebhookConfig::default()
    }
}

#[tokio::test]
async fn a_server_down_at_start_up_leaves_the_toolbox_working_and_comes_later() {
    // A port nothing listens on, and a command that does not exist.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = ToolsConfig {
        webhooks: vec![webhook().await],
        mcp: vec![
            source_config(format!("http://{addr}/mcp")),
            McpConfig {
                name: "saknas".into(),
                command: Some("/nonexistent/alice-mcp-server".into()),
                ..McpConfig::default()
            },
        ],
        ..ToolsConfig::default()
    };
    let toolbox =
        Toolbox::connect(&config, &BreakerConfig::default(), reqwest::Client::new()).await;

    let names = |toolbox: &Toolbox| -> Vec<String> {
        toolbox.definitions().into_iter().map(|d| d.name).collect()
    };
    assert_eq!(names(&toolbox), ["vader"]);
    let answer = toolbox
        .for_integration("weather")
        .unwrap()
        .call(call(json!({"place": "Malmö"})))
        .await
        .unwrap();
    assert_eq!(answer.text, "Regn i Malmö.");
    assert!(toolbox.get("rakna__add").is_none());

    let _server = HttpServer::start(addr);
    toolbox.reconnect().await;
    assert_eq!(
        names(&toolbox),
        [
            "vader",
            "rakna__add",
            "rakna__env",
            "rakna__pid",
            "rakna__slow",
            "rakna__weather"
        ]
    );
    let answer = toolbox
        .get("rakna__add")
        .unwrap()
        .call(call(json!({"a": 17, "b": 23})))
        .await
        .unwrap();
    assert_eq!(answer.text, "40");
}
