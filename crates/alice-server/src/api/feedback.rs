//! Thumbs up or down on one of Alice's answers, kept for the A/B experiments (which answer, so
//! which model and settings, got which rating): `PUT /api/messages/{id}/feedback` stores the
//! caller's rating, with an optional comment, on an answer in a conversation of theirs and
//! replaces what they gave it before; `DELETE` takes it back. The page shows the chosen thumb
//! again from the `feedback` field of `GET /api/conversations/{id}/messages`.
//!
//! `POST /api/feedback` `{message_id, rating, comment?}` does what the `PUT` does, with the
//! answer named in the body (the A/B experiments' own route; the page uses the `PUT`). A rating
//! of an answer given under an experiment is counted per variant
//! (`alice_experiment_feedback_total`); the report reads it from the store.
//!
//! Only the conversation's owner rates its answers (an admin's key is no exception: a rating
//! is the owner's opinion). Any other message id, a question or another user's answer, is a
//! 404 that says which, as far as the caller may know.

use crate::api::conversations::own_username;
use crate::error::ApiError;
use crate::http::json_body::{JsonBody, parse};
use crate::metrics::Metrics;
use alice_core::Role;
use alice_identity::Caller;
use alice_store::{ExperimentTag, NewFeedback, Rating, Store};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// The longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// Where to find the routes' advice when nobody is known (`auth.mode = "off"`).
const WITHOUT_A_CALLER: &str = "feedback is the owner's own, given with their key or session";

/// `PUT` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    rating: Rating,
    #[serde(default)]
    comment: Option<String>,
}

fn message_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::invalid(
            "id",
            format!("{raw:?} is not a message id (a UUID such as 0192f0c4-...)"),
        )
    })
}

/// The 404 of a message that is not an answer the caller may rate.
fn not_an_answer(user: &str, id: Uuid) -> ApiError {
    ApiError::NotFound(format!(
        "no answer {id} in a conversation of {user:?}; feedback goes on the message_id of one of \
         Alice's answers to you (POST /api/chat returns it; GET /api/conversations/{{id}}/messages \
         lists them)"
    ))
}

/// Checks that message `id` is an answer in one of `user`'s conversations (and says which
/// experiment it was given under, if any); the 404 says why not, telling the caller nothing of
/// other users' messages.
async fn own_answer(
    store: &Store,
    user: &str,
    id: Uuid,
) -> Result<Option<ExperimentTag>, ApiError> {
    match store.message_owner(id).await? {
        Some(owner) if owner.username == user && owner.role == Role::Assistant => {
            Ok(owner.experiment)
        }
        Some(owner) if owner.username == user => Err(ApiError::NotFound(format!(
            "message {id} is {user:?}'s own {} message, not an answer: feedback goes on Alice's \
             answers (role \"assistant\")",
            owner.role
        ))),
        _ => Err(not_an_answer(user, id)),
    }
}

/// The comment to keep: trimmed, None when blank, at most [`MAX_COMMENT_CHARS`].
fn checked_comment(comment: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(comment) = comment else {
        return Ok(None);
    };
    let comment = comment.trim();
    let length = comment.chars().count();
    if length > MAX_COMMENT_CHARS {
        return Err(ApiError::invalid(
            "comment",
            format!("a comment is at most {MAX_COMMENT_CHARS} characters; this one has {length}"),
        ));
    }
    if comment.contains('\0') {
        return Err(ApiError::invalid(
            "comment",
            "the comment holds a NUL character",
        ));
    }
    Ok((!comment.is_empty()).then(|| comment.to_owned()))
}

/// Stores the caller's rating of an answer of theirs (replacing the one before) and answers
/// with the stored feedback. The body is read only once the answer is known to be the
/// caller's, so a message of someone else's is a 404 whatever was sent.
pub async fn put(
    State(store): State<Store>,
    State(metrics): State<Arc<Metrics>>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    own_username(&caller, WITHOUT_A_CALLER)?;
    let id = message_id(&raw)?;
    rate(&store, &metrics, &caller, id, body).await
}

/// `POST /api/feedback`: the `PUT` with the answer named in the body's `message_id`. As there,
/// the rest of the body is read only once the answer is known to be the caller's.
pub async fn post(
    State(store): State<Store>,
    State(metrics): State<Arc<Metrics>>,
    Extension(caller): Extension<Caller>,
    JsonBody(mut body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    own_username(&caller, WITHOUT_A_CALLER)?;
    let raw = match body
        .as_object_mut()
        .map(|fields| fields.remove("message_id"))
    {
        Some(Some(Value::String(raw))) => raw,
        Some(Some(other)) => {
            return Err(ApiError::invalid(
                "message_id",
                format!("{other} is not a message id (a UUID string such as \"0192f0c4-...\")"),
            ));
        }
        Some(None) => {
            return Err(ApiError::invalid(
                "message_id",
                "missing: name the answer (the message_id POST /api/chat returned)",
            ));
        }
        None => {
            return Err(ApiError::invalid(
                "body",
                "a JSON object {\"message_id\", \"rating\": \"up\" | \"down\", \"comment\"?}",
            ));
        }
    };
    let id = Uuid::parse_str(&raw).map_err(|_| {
        ApiError::invalid(
            "message_id",
            format!("{raw:?} is not a message id (a UUID such as 0192f0c4-...)"),
        )
    })?;
    rate(&store, &metrics, &caller, id, body).await
}

/// The one way a rating is stored: checks the answer is the caller's, then reads `body` as a
/// [`FeedbackBody`] and stores it (replacing the one before), counted per rating and, for an
/// answer given under an experiment, per variant.
async fn rate(
    store: &Store,
    metrics: &Metrics,
    caller: &Caller,
    id: Uuid,
    body: Value,
) -> Result<Json<Value>, ApiError> {
    let user = own_username(caller, WITHOUT_A_CALLER)?;
    let experiment = own_answer(store, user, id).await?;
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::invalid("body", e.to_string()))?;
    let body: FeedbackBody = parse(&bytes)?;
    let feedback = NewFeedback {
        message_id: id,
        rating: body.rating,
        comment: checked_comment(body.comment)?,
        at: Utc::now(),
    };
    // Erased or deleted (retention) since it was checked: as if it had never been.
    let stored = store
        .put_feedback(user, &feedback)
        .await?
        .ok_or_else(|| not_an_answer(user, id))?;
    metrics.record_feedback(stored.rating.as_str());
    if let Some(experiment) = &experiment {
        metrics.record_experiment_feedback(
            &experiment.name,
            &experiment.variant,
            stored.rating.as_str(),
        );
    }
    tracing::info!(
        evt = "answer_rated",
        message = %id,
        rating = %stored.rating,
        experiment = experiment.as_ref().map(|e| e.name.as_str()),
        variant = experiment.as_ref().map(|e| e.variant.as_str()),
    );
    Ok(Json(json!(stored)))
}

/// Takes the caller's rating of an answer of theirs back: 204, also when there was none.
pub async fn delete(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = own_username(&caller, WITHOUT_A_CALLER)?;
    let id = message_id(&raw)?;
    own_answer(&store, user, id).await?;
    store.delete_feedback(user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{MAX_COMMENT_CHARS, checked_comment};

    #[test]
    fn comments_are_trimmed_blank_is_none_and_long_is_refused() {
        assert_eq!(checked_comment(None).unwrap(), None);
        assert_eq!(checked_comment(Some("  \n".into())).unwrap(), None);
        assert_eq!(
            checked_comment(Some(" För kort. ".into()))
                .unwrap()
                .as_deref(),
            Some("För kort.")
        );
        let longest = "å".repeat(MAX_COMMENT_CHARS);
        assert_eq!(
            checked_comment(Some(longest.clone())).unwrap(),
            Some(longest)
        );
        assert!(checked_comment(Some("å".repeat(MAX_COMMENT_CHARS + 1))).is_err());
        assert!(checked_comment(Some("a\0b".into())).is_err());
    }
}
