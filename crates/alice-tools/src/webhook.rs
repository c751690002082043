//! A webhook tool: Alice POSTs `{"tool", "arguments", "user", "message", "language"}` as JSON
//! to a configured URL and takes the `text` of its JSON answer (the rest is the answer's data).
//! It is how an operator connects Alice to a weather service, a home-automation bridge or a
//! mail gateway without Alice knowing any of them.
//!
//! Each webhook has its own timeout and circuit breaker (the backends' breaker, with the
//! `[breaker]` settings): a webhook that keeps failing is skipped at once while it is open, so a
//! dead integration costs a user no wait. A timeout, an unreachable URL, a 5xx status or an
//! answer that is not JSON with a `text` counts as a failure; a 4xx does not (the service is
//! up, it refused this call).

use crate::{Tool, ToolAnswer, ToolCall, ToolClass, ToolDefinition, ToolError};
use alice_core::config::{BreakerConfig, WebhookConfig};
use alice_llm::{Breaker, BreakerState};
use async_trait::async_trait;
use serde_json::json;
use std::time::Duration;

/// Longest answer read from a webhook.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub struct WebhookTool {
    definition: ToolDefinition,
    class: ToolClass,
    url: String,
    timeout: Duration,
    client: reqwest::Client,
    breaker: Breaker,
}

impl WebhookTool {
    /// The webhook `config` describes, calling through `client`.
    pub fn new(config: &WebhookConfig, breaker: &BreakerConfig, client: reqwest::Client) -> Self {
        let class = config
            .brownout_class
            .as_deref()
            .and_then(ToolClass::parse)
            .unwrap_or_else(|| ToolClass::of_integration(config.integration.as_deref()));
        Self {
            definition: ToolDefinition {
                name: config.name.clone(),
                description: config.description.clone(),
                parameters: json!({"type": "object"}),
            },
            class,
            url: config.url.clone(),
            timeout: config.timeout,
            client,
            breaker: Breaker::new(breaker.clone()),
        }
    }

    /// Its breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    async fn post(&self, call: &ToolCall<'_>) -> Result<ToolAnswer, ToolError> {
        let tool = || self.definition.name.clone();
        let body = json!({
            "tool": self.definition.name,
            "arguments": call.arguments,
            "user": call.user,
            "message": call.message,
            "language": call.language,
        });
        let sent = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .json(&body)
            .send()
            .await;
        let response = sent.map_err(|error| self.transport_error(&error))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ToolError::Status {
                tool: tool(),
                status: status.as_u16(),
            });
        }
        let bytes = read_capped(response)
            .await
            .map_err(|error| self.transport_error(&error))?;
        let Some(bytes) = bytes else {
            return Err(ToolError::BadAnswer {
                tool: tool(),
                detail: format!("longer than {MAX_ANSWER_BYTES} bytes"),
            });
        };
        let data: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|error| ToolError::BadAnswer {
                tool: tool(),
                detail: format!("not JSON: {error}"),
            })?;
        let text = data["text"]
            .as_str()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .ok_or_else(|| ToolError::BadAnswer {
                tool: tool(),
                detail: "no \"text\" string in the JSON".to_owned(),
            })?
            .to_owned();
        Ok(ToolAnswer { text, data })
    }

    fn transport_error(&self, error: &reqwest::Error) -> ToolError {
        let tool = self.definition.name.clone();
        if error.is_timeout() {
            ToolError::Timeout {
                tool,
                after: self.timeout,
            }
        } else {
            ToolError::Unreachable {
                tool,
                detail: error.to_string(),
            }
        }
    }
}

/// The body, or None when it is longer than [`MAX_ANSWER_BYTES`].
async fn read_capped(mut response: reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

#[async_trait]
impl Tool for WebhookTool {
    fn definition(&self) -> &ToolDefinition {
        &self.definition
    }

    fn class(&self) -> ToolClass {
        self.class
    }

    async fn call(&self, call: ToolCall<'_>) -> Result<ToolAnswer, ToolError> {
        // Half-open, calls go through as the breaker's probes: a webhook has no other.
        if self.breaker.state() == BreakerState::Open {
            return Err(ToolError::Open {
                tool: self.definition.name.clone(),
            });
        }
        let answer = self.post(&call).await;
        let failed = match &answer {
            Ok(_)
            | Err(ToolError::Status {
                status: 400..=499, ..
            }) => false,
            Err(_) => true,
        };
        self.breaker.record(failed);
        answer
    }
}
