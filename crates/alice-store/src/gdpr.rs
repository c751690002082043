//! The GDPR export (article 15): everything Alice holds about one user as one JSON document,
//! with every text that holds a Swedish personal identity number marked where it appears, so
//! the person (or the operator answering them) sees at once where such numbers are kept.
//!
//! The document is streamed: [`export`] opens one read snapshot of the database
//! ([`ExportSnapshot`]) and a task writes the document into chunks of about [`CHUNK_BYTES`],
//! reading the user's rows [`PAGE`] at a time, while the reader (an HTTP body, a file) takes
//! them. At most two chunks wait, so memory stays bounded whatever the user holds, and a reader
//! that goes away stops the task. The same document comes from `alice user export` and
//! `GET /api/users/{u}/export`.
//!
//! Shape (`alice-user-export/2`): `format`, `exported_at`, `engine`, `user`, `conversations`
//! (each with its `messages`), `memories`, `timers` (timers and reminders, pending, fired
//! and cancelled), `chat_sessions`, `agent_executions`,
//! `answer_feedback` (the user's thumbs on answers, with their comments),
//! `experiment_outcomes` (what became of their requests in A/B experiments: experiment,
//! variant, outcome, timings, the answer and its rating), then `counts` and
//! `personal_identity_numbers` (how many texts of each kind hold one) — last, because they are
//! known only once everything has been written. `answer_feedback`, `experiment_outcomes` and
//! `timers` (and their counts) came later within `/2`: new keys that a reader of the earlier documents
//! ignores, while every key they read keeps its place and meaning, so the number stayed.

use crate::StoreError;
use crate::backend::StoreBackend;
use crate::model::{
    AgentExecution, AnswerFeedback, ChatSession, Conversation, Memory, StoredMessage,
    StoredOutcome, User,
};
use crate::timers::Timer;
use alice_core::personal_number;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

/// The document's format name; bump the number when its shape changes for a reader: a key
/// removed, moved, renamed or meaning something else (a new key beside the others is not).
pub const EXPORT_FORMAT: &str = "alice-user-export/2";
/// Rows read per query.
pub const PAGE: u32 = 500;
/// A chunk is handed on once it holds this much.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// One user's data in one read snapshot, page by page; each engine has one.
#[async_trait::async_trait]
pub trait ExportSnapshot: Send {
    fn user(&self) -> &User;
    /// Conversations in the order they were started, after `after`.
    async fn conversations(
        &mut self,
        after: Option<&Conversation>,
        limit: u32,
    ) -> Result<Vec<Conversation>, StoreError>;
    /// A conversation's messages in order, after message number `after_seq`.
    async fn messages(
        &mut self,
        conversation: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError>;
    async fn memories(
        &mut self,
        after: Option<&Memory>,
        limit: u32,
    ) -> Result<Vec<Memory>, StoreError>;
    /// The user's timers and reminders, pending, fired and cancelled.
    async fn timers(&mut self, after: Option<&Timer>, limit: u32)
    -> Result<Vec<Timer>, StoreError>;

    async fn chat_sessions(
        &mut self,
        after: Option<&ChatSession>,
        limit: u32,
    ) -> Result<Vec<ChatSession>, StoreError>;
    async fn agent_executions(
        &mut self,
        after: Option<&AgentExecution>,
        limit: u32,
    ) -> Result<Vec<AgentExecution>, StoreError>;
    /// The user's feedback on answers, by answer id, after `after`.
    async fn answer_feedback(
        &mut self,
        after: Option<&AnswerFeedback>,
        limit: u32,
    ) -> Result<Vec<AnswerFeedback>, StoreError>;
    /// The user's experiment outcomes, in the order written, after `after`.
    async fn experiment_outcomes(
        &mut self,
        after: Option<&StoredOutcome>,
        limit: u32,
    ) -> Result<Vec<StoredOutcome>, StoreError>;
    /// Ends the snapshot.
    async fn finish(self: Box<Self>) -> Result<(), StoreError>;
}

/// A user's export document on its way: chunks of JSON in order; an error ends it (the
/// document is then incomplete, and must not be taken for whole).
pub struct UserExport {
    chunks: mpsc::Receiver<Result<Vec<u8>, StoreError>>,
}

impl UserExport {
    /// The chunks as a stream (for an HTTP body).
    pub fn into_stream(self) -> impl Stream<Item = Result<Vec<u8>, StoreError>> + Send {
        futures_util::stream::unfold(self.chunks, |mut chunks| async move {
            chunks.recv().await.map(|chunk| (chunk, chunks))
        })
    }

    /// Writes the whole document to `out` (a file, standard output), chunk by chunk.
    pub async fn write_to(mut self, out: &mut impl std::io::Write) -> Result<(), WriteError> {
        while let Some(chunk) = self.chunks.recv().await {
            out.write_all(&chunk?)?;
        }
        out.flush()?;
        Ok(())
    }
}

/// What writing an export to a file or a terminal can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The database failed while the document was read.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
}

/// Starts the export of `username`'s data; None when the database does not know the user
/// (known before anything is written, so an HTTP handler can still answer 404).
pub async fn export(
    store: &dyn StoreBackend,
    username: &str,
    now: DateTime<Utc>,
) -> Result<Option<UserExport>, StoreError> {
    let Some(snapshot) = store.export_snapshot(username).await? else {
        return Ok(None);
    };
    let (sender, chunks) = mpsc::channel(2);
    let engine = store.engine().as_str();
    tokio::spawn(async move {
        let mut writer = DocumentWriter {
            buffer: Vec::with_capacity(CHUNK_BYTES * 2),
            sender,
        };
        let written = write_document(snapshot, engine, now, &mut writer).await;
        match written {
            Ok(()) => {
                let last = std::mem::take(&mut writer.buffer);
                let _ = writer.sender.send(Ok(last)).await;
            }
            Err(Stop::ReaderGone) => {}
            Err(Stop::Failed(error)) => {
                tracing::error!(evt = "user_export_failed", error = %error);
                let _ = writer.sender.send(Err(error)).await;
            }
        }
    });
    Ok(Some(UserExport { chunks }))
}

/// Why the writing task stopped early.
enum Stop {
    ReaderGone,
    Failed(StoreError),
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        Stop::Failed(error)
    }
}

/// JSON text gathered into chunks and handed to the reader.
struct DocumentWriter {
    buffer: Vec<u8>,
    sender: mpsc::Sender<Result<Vec<u8>, StoreError>>,
}

impl DocumentWriter {
    fn raw(&mut self, text: &str) {
        self.buffer.extend_from_slice(text.as_bytes());
    }

    fn value(&mut self, value: &impl Serialize) -> Result<(), Stop> {
        serde_json::to_writer(&mut self.buffer, value)
            .map_err(|error| Stop::Failed(StoreError::Corrupt(error.to_string())))
    }

    /// `"name":` (after a comma unless `first`).
    fn key(&mut self, name: &str, first: bool) -> Result<(), Stop> {
        if !first {
            self.raw(",");
        }
        self.value(&name)?;
        self.raw(":");
        Ok(())
    }

    /// Hands the gathered text on once it is a chunk's worth; waits while the reader is two
    /// chunks behind.
    async fn flush_if_full(&mut self) -> Result<(), Stop> {
        if self.buffer.len() < CHUNK_BYTES {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES * 2));
        self.sender
            .send(Ok(chunk))
            .await
            .map_err(|_| Stop::ReaderGone)
    }
}

/// Texts that hold a personal identity number, by kind.
#[derive(Default, Serialize)]
struct Flagged {
    messages: u64,
    memories: u64,
    timers: u64,
    agent_executions: u64,
    answer_feedback: u64,
}

#[derive(Default, Serialize)]
struct Counts {
    conversations: u64,
    messages: u64,
    memories: u64,
    timers: u64,
    chat_sessions: u64,
    agent_executions: u64,
    answer_feedback: u64,
    experiment_outcomes: u64,
}

/// `value` (an object) with `contains_personal_identity_number` added.
fn marked(value: &impl Serialize, found: bool) -> Result<Value, Stop> {
    let mut value = serde_json::to_value(value)
        .map_err(|e| Stop::Failed(StoreError::Corrupt(e.to_string())))?;
    value["contains_personal_identity_number"] = json!(found);
    Ok(value)
}

async fn write_document(
    mut snapshot: Box<dyn ExportSnapshot>,
    engine: &str,
    now: DateTime<Utc>,
    out: &mut DocumentWriter,
) -> Result<(), Stop> {
    let mut counts = Counts::default();
    let mut flagged = Flagged::default();
    out.raw("{");
    out.key("format", true)?;
    out.value(&EXPORT_FORMAT)?;
    out.key("exported_at", false)?;
    out.value(&now)?;
    out.key("engine", false)?;
    out.value(&engine)?;
    out.key("user", false)?;
    out.value(snapshot.user())?;

    out.key("conversations", false)?;
    out.raw("[");
    let mut last: Option<Conversation> = None;
    loop {
        let page = snapshot.conversations(last.as_ref(), PAGE).await?;
        for conversation in &page {
            if counts.conversations > 0 {
                out.raw(",");
            }
            counts.conversations += 1;
            // The conversation's own fields, then its messages as one more field.
            let Value::Object(fields) = serde_json::to_value(conversation)
                .map_err(|e| Stop::Failed(StoreError::Corrupt(e.to_string())))?
            else {
                return Err(Stop::Failed(StoreError::Corrupt(
                    "a conversation did not serialise as an object".into(),
                )));
            };
            out.raw("{");
            for (index, (name, value)) in fields.iter().enumerate() {
                out.key(name, index == 0)?;
                out.value(value)?;
            }
            out.key("messages", fields.is_empty())?;
            out.raw("[");
            let mut after_seq = 0;
            let mut first = true;
            loop {
                let messages = snapshot.messages(conversation.id, after_seq, PAGE).await?;
                for message in &messages {
                    if !first {
                        out.raw(",");
                    }
                    first = false;
                    counts.messages += 1;
                    let found = personal_number::contains(&message.content);
                    flagged.messages += u64::from(found);
                    out.value(&marked(message, found)?)?;
                    after_seq = message.seq;
                    out.flush_if_full().await?;
                }
                if messages.len() < PAGE as usize {
                    break;
                }
            }
            out.raw("]}");
            out.flush_if_full().await?;
        }
        if page.len() < PAGE as usize {
            break;
        }
        last = page.into_iter().last();
    }
    out.raw("]");

    out.key("memories", false)?;
    out.raw("[");
    let mut last: Option<Memory> = None;
    loop {
        let page = snapshot.memories(last.as_ref(), PAGE).await?;
        for memory in &page {
            if counts.memories > 0 {
                out.raw(",");
            }
            counts.memories += 1;
            let found = personal_number::contains(&memory.content);
            flagged.memories += u64::from(found);
            out.value(&marked(memory, found)?)?;
            out.flush_if_full().await?;
        }
        if page.len() < PAGE as usize {
            break;
        }
        last = page.into_iter().last();
    }
    out.raw("]");

    out.key("timers", false)?;
    out.raw("[");
    let mut last: Option<Timer> = None;
    loop {
        let page = snapshot.timers(last.as_ref(), PAGE).await?;
        for timer in &page {
            if counts.timers > 0 {
                out.raw(",");
            }
            counts.timers += 1;
            let found = personal_number::contains(&format!("{}\n{}", timer.label, timer.message));
            flagged.timers += u64::from(found);
            out.value(&marked(timer, found)?)?;
            out.flush_if_full().await?;
        }
        if page.len() < PAGE as usize {
            break;
        }
        last = page.into_iter().last();
    }
    out.raw("]");

    out.key("chat_sessions", false)?;
    out.raw("[");
    let mut last: Option<ChatSession> = None;
    loop {
        let page = snapshot.chat_sessions(last.as_ref(), PAGE).await?;
        for session in &page {
            if counts.chat_sessions > 0 {
                out.raw(",");
            }
            counts.chat_sessions += 1;
            out.value(session)?;
            out.flush_if_full().await?;
        }
        if page.len() < PAGE as usize {
            break;
        }
        last = page.into_iter().last();
    }
    out.raw("]");

    out.key("agent_executions", false)?;
    out.raw("[");
    let mut last: Option<AgentExecution> = None;
    loop {
        let page = snapshot.agent_executions(last.as_ref(), PAGE).await?;
        for execution in &page {
            if counts.agent_executions > 0 {
                out.raw(",");
            }
            counts.agent_executions += 1;
            let text = format!(
                "{}\n{}",
                execution.input,
                execution.output.as_deref().unwrap_or_default()
            );
            let found = personal_number::contains(&text);
            flagged.agent_executions += u64::from(found);
            out.value(&marked(execution, found)?)?;
            out.flush_if_full().await?;
        }
        if page.len() < PAGE as usize {
            break;
        }
        last = page.into_iter().last();
    }
    out.raw("]");

    out.key("answer_feedback", false)?;
    out.raw("[");
    let mut last: Option<AnswerFeedback> = None;
    loop {
        let page = snapshot.answer_feedback(last.as_ref(), PAGE).await?;
        for feedback in &page {
            if counts.answer_feedback > 0 {
                out.raw(",");
            }
            counts.answer_feedback += 1;
            let found = feedback
                .comment
                .as_deref()
                .is_some_and(personal_number::contains);
            flagged.answer_feedback += u64::from(found);
            out.value(&marked(feedback, found)?)?;
            out.flush_if_full().await?;
        }
        if page.len() < PAGE as usize {
            break;
        }
        last = page.into_iter().last();
    }
    out.raw("]");

    // Measurements of the user's requests: no text of theirs, so nothing to flag.
    out.key("experiment_outcomes", false)?;
    out.raw("[");
    let mut last: Option<StoredOutcome> = None;
    loop {
        let page = snapshot.experiment_outcomes(last.as_ref(), PAGE).await?;
        for outcome in &page {
            if counts.experiment_outcomes > 0 {
                out.raw(",");
            }
            counts.experiment_outcomes += 1;
            out.value(outcome)?;
            out.flush_if_full().await?;
        }
        if page.len() < PAGE as usize {
            break;
        }
        last = page.into_iter().last();
    }
    out.raw("]");
    snapshot.finish().await?;

    out.key("counts", false)?;
    out.value(&counts)?;
    out.key("personal_identity_numbers", false)?;
    out.value(&json!({
        "note": "Texts that hold a Swedish personal identity number (personnummer or \
                 samordningsnummer) are marked \"contains_personal_identity_number\": true where \
                 they appear; these are how many of each kind.",
        "texts": flagged,
    }))?;
    out.raw("}\n");
    Ok(())
}
