//! The model as llama.cpp holds it: the process's one llama.cpp backend, loading a GGUF file,
//! its chat template (the model's own, else ChatML) and turning messages into prompt tokens.

use alice_core::ChatMessage;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::token::LlamaToken;
use std::path::Path;
use std::sync::OnceLock;

/// The process's one llama.cpp backend (llama.cpp allows one initialisation per process).
pub(super) fn llama_backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            backend.void_logs();
            Ok(backend)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A loaded model.
pub(super) struct Loaded {
    pub(super) model: LlamaModel,
    template: LlamaChatTemplate,
    pub(super) n_ctx_train: u32,
}

impl Loaded {
    pub(super) fn load(path: &Path) -> Result<Self, String> {
        let backend = llama_backend()?;
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| {
                format!(
                    "llama.cpp cannot load {} ({e}): it is not a GGUF model this build of \
                     llama.cpp reads, or it is damaged",
                    path.display()
                )
            })?;
        let template = usable_template(&model)?;
        let n_ctx_train = model.n_ctx_train();
        Ok(Self {
            model,
            template,
            n_ctx_train,
        })
    }

    pub(super) fn template_label(&self) -> String {
        let text = self.template.to_str().unwrap_or("?");
        if text == "chatml" {
            "chatml (fallback)".to_owned()
        } else if text.contains("<|im_start|>") {
            "the model's own (ChatML)".to_owned()
        } else {
            "the model's own".to_owned()
        }
    }

    /// The prompt for `messages`: the chat template applied, ending with the assistant's turn,
    /// tokenized with special tokens recognised.
    pub(super) fn prompt(&self, messages: &[ChatMessage]) -> Result<Vec<LlamaToken>, String> {
        let chat = messages
            .iter()
            .map(|m| {
                // A NUL cannot cross into C; it carries no meaning in a chat anyway.
                LlamaChatMessage::new(m.role.as_str().to_owned(), m.content.replace('\0', ""))
                    .map_err(|e| format!("a message cannot be passed to llama.cpp: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let text = self
            .model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(|e| format!("the chat template could not be applied: {e}"))?;
        Ok(self.model.vocab().tokenize(text.as_bytes(), true, true))
    }
}

/// The model's own chat template when llama.cpp can apply it, else ChatML.
fn usable_template(model: &LlamaModel) -> Result<LlamaChatTemplate, String> {
    let probe = LlamaChatMessage::new("user".into(), "Hej".into()).map_err(|e| e.to_string())?;
    if let Ok(template) = model.chat_template(None)
        && model
            .apply_chat_template(&template, std::slice::from_ref(&probe), true)
            .is_ok()
    {
        return Ok(template);
    }
    tracing::warn!(
        evt = "embedded_template_fallback",
        note = "the model has no chat template llama.cpp can apply; using ChatML",
    );
    LlamaChatTemplate::new("chatml").map_err(|e| e.to_string())
}
