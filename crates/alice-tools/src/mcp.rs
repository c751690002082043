//! MCP servers as tool sources: an operator points Alice at a server that speaks the Model
//! Context Protocol (`[[tools.mcp]]`) and every tool it lists becomes one of Alice's, offered
//! as `{source}__{tool}` (OpenAI function names must match `^[a-zA-Z0-9_-]{1,64}$`, so no dot;
//! a listed tool whose name would not fit is left out with a warning).
//!
//! The protocol is the official Rust SDK's, `rmcp`, client side only (`client`), so Alice does
//! not write JSON-RPC, the handshake, pagination or the transports herself. Two of its
//! transports: `transport-streamable-http-client-reqwest` (with `reqwest`, the rustls the
//! workspace's reqwest already uses) for a `url`, and `transport-child-process` for a `command`
//! Alice starts, killed when its session is dropped (rmcp kills it; `kill_on_drop` as well),
//! its stderr read line by line into Alice's debug log rather than inherited, and its
//! environment only [`INHERITED_ENV`] of Alice's.
//!
//! Faults, as for a webhook: each source has its own circuit breaker (the `[breaker]`
//! settings) shared by its tools. Open, a call fails at once with [`ToolError::Open`] and no
//! connection is attempted; half-open, calls go through as its probes. A timeout, a failed
//! connection or a broken session counts as a failure; an `isError` result or a JSON-RPC error
//! does not (the server is up, it refused this call): both become [`ToolError::Refused`].
//!
//! A source that cannot be reached at start-up does not stop Alice: [`McpSource::start`] logs
//! a warning and the source has no tools until it connects. It is tried again, never while its
//! breaker is open and one attempt at a time, by [`McpSource::reconnect`] (which
//! [`crate::Toolbox::definitions`] starts in the background for every source that is down, so
//! listing tools never waits on a server) and by a call of one of its tools whose session
//! broke (that call waits for the attempt, at most `connect_timeout`). The breaker is the
//! backoff: after `min_requests` failed attempts it opens and nothing is tried for `open_for`.
//! A source that was listed once keeps its tools from the last listing while it is down.

use crate::{Tool, ToolAnswer, ToolCall, ToolClass, ToolDefinition, ToolError};
use alice_core::config::{BreakerConfig, McpConfig};
use alice_llm::{Breaker, BreakerState};
use async_trait::async_trait;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceError, ServiceExt};
use std::process::Stdio;
use std::sync::{Arc, RwLock};
use tokio::io::AsyncBufReadExt;

/// Between a source's name and its tool's in the names Alice offers: `files__read_file`.
pub const SEPARATOR: &str = "__";

/// The only variables of Alice's environment a stdio server gets (those the official
/// TypeScript SDK passes by default): Alice's own, such as a backend's API key, stay hers.
const INHERITED_ENV: [&str; 8] = [
    "HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "TMPDIR",
];

/// One live MCP session.
type Session = RunningService<RoleClient, ClientConfig>;

/// One configured MCP server and the tools of its last listing. Cheap to clone; the session
/// (and a stdio child) ends when the last clone and the last of its tools are dropped.
#[derive(Clone)]
pub struct McpSource {
    core: Arc<Core>,
}

struct Core {
    config: McpConfig,
    class: ToolClass,
    breaker: Breaker,
    client: reqwest::Client,
    /// The live session, None while down. Held across a connection attempt, so there is one
    /// at a time and a call waiting for it gets its session.
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    /// The tools of the last listing (the tools hold the core, not the other way round, so
    /// dropping the source drops the session).
    listing: RwLock<Vec<Listed>>,
}

#[derive(Clone)]
struct Listed {
    definition: ToolDefinition,
    /// The tool's name on the server.
    remote: String,
}

impl std::fmt::Debug for McpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpSource")
            .field("name", &self.core.config.name)
            .field("tools", &self.core.listed().len())
            .field("breaker", &self.core.breaker.state())
            .finish()
    }
}

impl McpSource {
    /// The source `config` describes, connected and listed if it can be within its
    /// `connect_timeout`; otherwise down (logged), to be tried again later. Calls over HTTP go
    /// through `client`.
    pub async fn start(
        config: &McpConfig,
        breaker: &BreakerConfig,
        client: reqwest::Client,
    ) -> Self {
        let source = Self {
            core: Arc::new(Core {
                config: config.clone(),
                class: ToolClass::parse(&config.brownout_class).unwrap_or(ToolClass::Other),
                breaker: Breaker::new(breaker.clone()),
                client,
                session: tokio::sync::Mutex::new(None),
                listing: RwLock::new(Vec::new()),
            }),
        };
        source.reconnect().await;
        source
    }

    pub fn name(&self) -> &str {
        &self.core.config.name
    }

    /// Its tools, as of the last listing.
    pub fn tools(&self) -> Vec<Arc<dyn Tool>> {
        self.core
            .listed()
            .into_iter()
            .map(|listed| {
                Arc::new(McpTool {
                    definition: listed.definition,
                    remote: listed.remote,
                    core: Arc::clone(&self.core),
                }) as Arc<dyn Tool>
            })
            .collect()
    }

    /// Its breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        self.core.breaker.state()
    }

    /// Connects and lists its tools again if it is down and its breaker is not open; waits for
    /// an attempt already under way. Failures are logged and count for the breaker.
    pub async fn reconnect(&self) {
        let mut session = self.core.session.lock().await;
        if session.as_ref().is_some_and(|live| !live.is_closed())
            || self.core.breaker.state() == BreakerState::Open
        {
            return;
        }
        *session = self.core.connect().await.ok();
    }

    /// Whether it has no live session and no attempt is under way.
    pub(crate) fn is_down(&self) -> bool {
        self.core
            .session
            .try_lock()
            .is_ok_and(|session| session.as_ref().is_none_or(|live| live.is_closed()))
    }
}

impl Core {
    fn listed(&self) -> Vec<Listed> {
        // A poisoned lock means a panic mid-assignment of a whole Vec; the old one is whole.
        self.listing
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The live session, connecting if there is none.
    async fn session(&self) -> Result<Arc<Session>, String> {
        let mut session = self.session.lock().await;
        if let Some(live) = session.as_ref().filter(|live| !live.is_closed()) {
            return Ok(Arc::clone(live));
        }
        *session = None;
        let live = self.connect().await?;
        *session = Some(Arc::clone(&live));
        Ok(live)
    }

    /// Forgets `broken` (not a newer session), so the next call connects again.
    async fn forget(&self, broken: &Arc<Session>) {
        let mut session = self.session.lock().await;
        if session
            .as_ref()
            .is_some_and(|live| Arc::ptr_eq(live, broken))
        {
            *session = None;
        }
    }

    /// A new session with the tools listed, within `connect_timeout`. A failure is logged and
    /// recorded by the breaker.
    async fn connect(&self) -> Result<Arc<Session>, String> {
        let name = &self.config.name;
        let attempt = tokio::time::timeout(self.config.connect_timeout, self.handshake()).await;
        let connected = match attempt {
            Ok(connected) => connected,
            Err(_) => Err(format!(
                "no connection within {:?} (tools.mcp connect_timeout)",
                self.config.connect_timeout
            )),
        };
        match connected {
            Ok((session, tools)) => {
                let listing = self.listing_of(tools);
                tracing::info!(source = %name, tools = listing.len(), "MCP server connected");
                *self
                    .listing
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = listing;
                Ok(Arc::new(session))
            }
            Err(detail) => {
                tracing::warn!(
                    source = %name,
                    "MCP server unreachable, its tools are unavailable until it connects: {detail}"
                );
                self.breaker.record(true);
                Err(detail)
            }
        }
    }

    /// Starts or reaches the server, runs the MCP handshake and lists every tool.
    async fn handshake(&self) -> Result<(Session, Vec<rmcp::model::Tool>), String> {
        let client_info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("alice", env!("CARGO_PKG_VERSION")),
        );
        let session = if let Some(url) = &self.config.url {
            let transport = StreamableHttpClientTransport::with_client(
                self.client.clone(),
                StreamableHttpClientTransportConfig::with_uri(url.as_str()),
            );
            client_info
                .serve(transport)
                .await
                .map_err(|error| error.to_string())?
        } else {
            let program = self.config.command.as_deref().unwrap_or_default();
            let mut command = tokio::process::Command::new(program);
            command
                .args(&self.config.args)
                .kill_on_drop(true)
                .env_clear();
            for (key, value) in std::env::vars_os()
                .filter(|(key, _)| key.to_str().is_some_and(|key| INHERITED_ENV.contains(&key)))
            {
                command.env(key, value);
            }
            let (transport, stderr) = TokioChildProcess::builder(command)
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|error| format!("cannot start {program:?}: {error}"))?;
            if let Some(stderr) = stderr {
                tokio::spawn(log_stderr(self.config.name.clone(), stderr));
            }
            client_info
                .serve(transport)
                .await
                .map_err(|error| error.to_string())?
        };
        let tools = session
            .peer()
            .list_all_tools()
            .await
            .map_err(|error| format!("listing its tools: {error}"))?;
        Ok((session, tools))
    }

    /// The tools Alice can offer, named `{source}__{tool}`.
    fn listing_of(&self, tools: Vec<rmcp::model::Tool>) -> Vec<Listed> {
        let source = &self.config.name;
        tools
            .into_iter()
            .filter_map(|tool| {
                let name = format!("{source}{SEPARATOR}{}", tool.name);
                let offerable = name.len() <= 64
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !offerable {
                    tracing::warn!(
                        source = %source,
                        tool = %tool.name,
                        "MCP tool left out: {name:?} is not 1 to 64 letters, digits, '_' or '-'"
                    );
                    return None;
                }
                Some(Listed {
                    definition: ToolDefinition {
                        name,
                        description: tool
                            .description
                            .map(|text| text.into_owned())
                            .or(tool.title)
                            .unwrap_or_default(),
                        parameters: serde_json::Value::Object((*tool.input_schema).clone()),
                    },
                    remote: tool.name.into_owned(),
                })
            })
            .collect()
    }
}

/// A stdio server's stderr, line by line into the debug log, until it closes.
async fn log_stderr(source: String, stderr: tokio::process::ChildStderr) {
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(source = %source, "MCP server stderr: {line}");
    }
}

/// One tool of an MCP source.
struct McpTool {
    definition: ToolDefinition,
    remote: String,
    core: Arc<Core>,
}

impl std::fmt::Debug for McpTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpTool")
            .field("name", &self.definition.name)
            .finish()
    }
}

impl McpTool {
    fn refused(&self, detail: impl Into<String>) -> ToolError {
        ToolError::Refused {
            tool: self.definition.name.clone(),
            detail: detail.into(),
        }
    }

    /// What `result` says: its text (and its structured content or the whole result as data),
    /// or why the tool refused.
    fn answer(&self, result: CallToolResult) -> Result<ToolAnswer, ToolError> {
        let text = result
            .content
            .iter()
            .filter_map(|content| content.as_text())
            .map(|content| content.text.trim())
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        if result.is_error == Some(true) {
            return Err(self.refused(if text.is_empty() {
                "it gave no reason".to_owned()
            } else {
                text
            }));
        }
        let data = match &result.structured_content {
            Some(structured) => structured.clone(),
            None => serde_json::to_value(&result).map_err(|error| ToolError::BadAnswer {
                tool: self.definition.name.clone(),
                detail: error.to_string(),
            })?,
        };
        let text = match (text.is_empty(), &result.structured_content) {
            (false, _) => text,
            (true, Some(structured)) => structured.to_string(),
            (true, None) => {
                return Err(ToolError::BadAnswer {
                    tool: self.definition.name.clone(),
                    detail: "no text and no structured content".to_owned(),
                });
            }
        };
        Ok(ToolAnswer { text, data })
    }
}

#[async_trait]
impl Tool for McpTool {
    fn definition(&self) -> &ToolDefinition {
        &self.definition
    }

    fn class(&self) -> ToolClass {
        self.core.class
    }

    async fn call(&self, call: ToolCall<'_>) -> Result<ToolAnswer, ToolError> {
        let tool = || self.definition.name.clone();
        if self.core.breaker.state() == BreakerState::Open {
            return Err(ToolError::Open { tool: tool() });
        }
        let mut params = CallToolRequestParams::new(self.remote.clone());
        match call.arguments {
            serde_json::Value::Object(arguments) => params = params.with_arguments(arguments),
            serde_json::Value::Null => {}
            _ => return Err(self.refused("its arguments must be a JSON object")),
        }
        let session = self
            .core
            .session()
            .await
            .map_err(|detail| ToolError::Unreachable {
                tool: tool(),
                detail,
            })?;
        let timeout = self.core.config.timeout;
        // Dropped at the timeout, rmcp tells the server the call is cancelled.
        let outcome = tokio::time::timeout(timeout, session.peer().call_tool(params)).await;
        match outcome {
            Err(_) => {
                self.core.breaker.record(true);
                Err(ToolError::Timeout {
                    tool: tool(),
                    after: timeout,
                })
            }
            Ok(Err(ServiceError::McpError(error))) => {
                self.core.breaker.record(false);
                Err(self.refused(error.message))
            }
            Ok(Err(error)) => {
                self.core.breaker.record(true);
                self.core.forget(&session).await;
                Err(ToolError::Unreachable {
                    tool: tool(),
                    detail: error.to_string(),
                })
            }
            Ok(Ok(result)) => {
                self.core.breaker.record(false);
                self.answer(result)
            }
        }
    }
}
