//! A small MCP server for the tests, written with rmcp's server side (`#[tool]`): `add(a, b)`,
//! `weather(place)` (an `isError` result for a place it does not know), `slow` (answers after
//! two seconds), `pid` (its process id) and `env(name)` (a variable of its environment, or "-"). tests/mcp.rs serves it over Streamable HTTP and
//! the `alice-test-mcp-server` bin over stdio, so both transports meet the same tools.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct AddRequest {
    /// The first term.
    pub a: i64,
    /// The second term.
    pub b: i64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct WeatherRequest {
    /// A town, e.g. Göteborg.
    pub place: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct EnvRequest {
    /// The variable's name.
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct TestServer {
    tool_router: ToolRouter<Self>,
}

impl TestServer {
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl TestServer {
    #[tool(description = "Adds two integers.")]
    fn add(&self, Parameters(AddRequest { a, b }): Parameters<AddRequest>) -> String {
        (a + b).to_string()
    }

    #[tool(description = "The weather in a place.")]
    fn weather(
        &self,
        Parameters(WeatherRequest { place }): Parameters<WeatherRequest>,
    ) -> CallToolResult {
        if place == "Atlantis" {
            return CallToolResult::error(vec![ContentBlock::text("Okänd ort: Atlantis")]);
        }
        let mut result = CallToolResult::success(vec![ContentBlock::text(format!(
            "Sol och 20 grader i {place}."
        ))]);
        result.structured_content = Some(serde_json::json!({"place": place, "temp_c": 20}));
        result
    }

    #[tool(description = "Answers after two seconds.")]
    async fn slow(&self) -> String {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        "för sent".to_owned()
    }

    #[tool(description = "A variable of the server's environment, or \"-\".")]
    fn env(&self, Parameters(EnvRequest { name }): Parameters<EnvRequest>) -> String {
        std::env::var(name).unwrap_or_else(|_| "-".to_owned())
    }

    #[tool(description = "The server's process id.")]
    fn pid(&self) -> String {
        std::process::id().to_string()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}
