//! The tests' MCP server (tests/support/mcp_server.rs) on stdio, for tests/mcp_stdio.rs to start
//! as a child process the way Alice starts a `[[tools.mcp]]` `command`. Built only with the
//! `test-mcp-server` feature.

#[path = "../../tests/support/mcp_server.rs"]
mod mcp_server;

use rmcp::ServiceExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let service = mcp_server::TestServer::new()
        .serve(rmcp::transport::stdio())
        .await?;
    service.waiting().await?;
    Ok(())
}
