//! The tools of one configuration: every webhook of `[tools]`, found by name or by the
//! integration it stands for, and the tools of every MCP server, found by name, with every
//! definition listed for offering them to a model.

use crate::mcp::McpSource;
use crate::webhook::WebhookTool;
use crate::{Tool, ToolDefinition};
use alice_core::config::{BreakerConfig, ToolsConfig};
use std::collections::HashMap;
use std::sync::Arc;

/// The configured tools. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Toolbox {
    by_name: HashMap<String, Arc<dyn Tool>>,
    by_integration: HashMap<String, Arc<dyn Tool>>,
    mcp: Vec<McpSource>,
}

impl Toolbox {
    /// The webhooks `config` names (it has been validated: names and integrations are
    /// unique), without its MCP servers: [`Toolbox::connect`] adds those.
    pub fn new(config: &ToolsConfig, breaker: &BreakerConfig, client: reqwest::Client) -> Self {
        let mut toolbox = Toolbox::default();
        for hook in &config.webhooks {
            let tool: Arc<dyn Tool> = Arc::new(WebhookTool::new(hook, breaker, client.clone()));
            if let Some(integration) = &hook.integration {
                toolbox
                    .by_integration
                    .insert(integration.clone(), Arc::clone(&tool));
            }
            toolbox.by_name.insert(hook.name.clone(), tool);
        }
        toolbox
    }

    /// The webhooks and the MCP servers `config` names, each server connected and its tools
    /// listed, all at once, within its `connect_timeout`. A server that cannot be reached is
    /// logged and tried again later (see [`crate::mcp`]); it never makes this fail.
    pub async fn connect(
        config: &ToolsConfig,
        breaker: &BreakerConfig,
        client: reqwest::Client,
    ) -> Self {
        let mut toolbox = Toolbox::new(config, breaker, client.clone());
        toolbox.mcp = futures_util::future::join_all(
            config
                .mcp
                .iter()
                .map(|source| McpSource::start(source, breaker, client.clone())),
        )
        .await;
        toolbox
    }

    /// The tool named `name`: a webhook, or an MCP server's tool (`{source}__{tool}`) of its
    /// last listing.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Tool>> {
        if let Some(tool) = self.by_name.get(name) {
            return Some(Arc::clone(tool));
        }
        let (source, _) = name.split_once(crate::mcp::SEPARATOR)?;
        self.mcp
            .iter()
            .filter(|mcp| mcp.name() == source)
            .flat_map(McpSource::tools)
            .find(|tool| tool.definition().name == name)
    }

    /// The tool that stands for `integration` ("weather", "mail", ...), if one is configured.
    pub fn for_integration(&self, integration: &str) -> Option<&Arc<dyn Tool>> {
        self.by_integration.get(integration)
    }

    /// Every tool's definition, to offer a model: the webhooks by name, then each MCP server's
    /// tools as it listed them. Never waits on a server: an MCP server that is down is tried
    /// again in the background (not while its breaker is open) and its tools are here once it
    /// has connected.
    pub fn definitions(&self) -> Vec<ToolDefinition> {
        let mut webhooks: Vec<_> = self.by_name.values().collect();
        webhooks.sort_by(|a, b| a.definition().name.cmp(&b.definition().name));
        let mut definitions: Vec<ToolDefinition> = webhooks
            .into_iter()
            .map(|tool| tool.definition().clone())
            .collect();
        for source in &self.mcp {
            if source.is_down()
                && source.breaker_state() != alice_llm::BreakerState::Open
                && let Ok(runtime) = tokio::runtime::Handle::try_current()
            {
                let source = source.clone();
                runtime.spawn(async move { source.reconnect().await });
            }
            definitions.extend(source.tools().iter().map(|tool| tool.definition().clone()));
        }
        definitions
    }

    /// Tries every MCP server that is down again, at once (not one whose breaker is open), and
    /// waits for the attempts: for a caller that wants the tools of a server just come up.
    pub async fn reconnect(&self) {
        futures_util::future::join_all(self.mcp.iter().map(McpSource::reconnect)).await;
    }
}
