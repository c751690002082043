//! What an operator changed through the control API (`/api/brain/…`) while Alice runs, and
//! the chat service reads for every turn. Each setting falls back to the configuration.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Settings an operator changed while Alice runs; each falls back to the configuration.
#[derive(Debug, Default)]
pub struct BrainSettings {
    /// Earlier messages sent with a question; 0 means "as configured".
    history_messages: AtomicUsize,
    /// The model switched to, if any.
    model: std::sync::Mutex<Option<String>>,
}

impl BrainSettings {
    /// The model an operator switched to.
    pub fn model(&self) -> Option<String> {
        self.model.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `chat.history_messages`, or what the operator set.
    pub fn history_messages(&self, configured: usize) -> usize {
        match self.history_messages.load(Ordering::Relaxed) {
            0 => configured,
            set => set,
        }
    }

    /// Sets the earlier messages sent with a question (the brownout preset still caps them).
    pub fn set_history_messages(&self, messages: usize) {
        self.history_messages.store(messages, Ordering::Relaxed);
    }

    /// Asks the backends for `model`, or for the configured one again with None.
    pub fn switch_model(&self, model: Option<String>) {
        *self.model.lock().unwrap_or_else(|p| p.into_inner()) = model;
    }
}
