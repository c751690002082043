//! The tools of one configuration: every webhook of `[tools]`, found by name or by the
//! integration it stands for.

use crate::Tool;
use crate::webhook::WebhookTool;
use alice_core::config::{BreakerConfig, ToolsConfig};
use std::collections::HashMap;
use std::sync::Arc;

/// The configured tools. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Toolbox {
    by_name: HashMap<String, Arc<dyn Tool>>,
    by_integration: HashMap<String, Arc<dyn Tool>>,
}

impl Toolbox {
    /// The tools `config` names (it has been validated: names and integrations are unique).
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

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.by_name.get(name)
    }

    /// The tool that stands for `integration` ("weather", "mail", ...), if one is configured.
    pub fn for_integration(&self, integration: &str) -> Option<&Arc<dyn Tool>> {
        self.by_integration.get(integration)
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
