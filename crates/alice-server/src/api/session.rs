//! The page's login: `POST /api/auth/login` checks a user's password (`{username, password}`)
//! or an API key (`{api_key}`) and sets the session cookie (HttpOnly, SameSite=Strict; Secure with `auth.secure_cookies` or when a trusted
//! proxy says the request came over TLS); `POST /api/auth/logout` ends the
//! session; `GET /api/auth/me` says who the credential of a request proves. API keys need
//! none of this: they are sent with every request.

use crate::error::ApiError;
use crate::http::authentication::{Gatekeeper, SESSION_COOKIE, session_cookie};
use crate::http::client_addr::ClientAddr;
use crate::http::json_body::JsonBody;
use alice_identity::{Caller, Credential, IdentityError};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

/// `POST /api/auth/login` body: a user's name and password, or one of their API keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    username: Option<String>,
    password: Option<String>,
    api_key: Option<String>,
}

pub async fn log_in(
    State(gate): State<Gatekeeper>,
    client: Option<Extension<ClientAddr>>,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Response, ApiError> {
    let (outcome, who_tried) = match (&body.username, &body.password, &body.api_key) {
        (Some(username), Some(password), None) => (
            gate.directory().log_in(username, password).await,
            username.as_str(),
        ),
        (None, None, Some(api_key)) => (
            gate.directory().log_in_with_key(api_key).await,
            "(an API key)",
        ),
        _ => {
            return Err(ApiError::invalid(
                "body",
                "send {\"username\", \"password\"} or {\"api_key\"}, not both or neither",
            ));
        }
    };
    let (token, caller) = outcome.map_err(|error| {
        if !matches!(error, IdentityError::Store(_)) {
            tracing::info!(evt = "login_refused", user = %who_tried, reason = %error);
        }
        ApiError::from(error)
    })?;
    tracing::info!(evt = "logged_in", user = %caller.username);
    let mut cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        gate.session_ttl().as_secs()
    );
    let over_tls = client.is_some_and(|Extension(client)| client.forwarded_https);
    if gate.secure_cookies() || over_tls {
        cookie.push_str("; Secure");
    }
    let mut response = Json(who(&caller)).into_response();
    set_cookie(response.headers_mut(), &cookie);
    Ok(response)
}

pub async fn log_out(
    State(gate): State<Gatekeeper>,
    request: Request,
) -> Result<Response, ApiError> {
    if let Some(token) = session_cookie(request.headers()) {
        gate.directory().log_out(token).await?;
    }
    let mut response = Json(json!({ "logged_out": true })).into_response();
    set_cookie(
        response.headers_mut(),
        &format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

pub async fn me(Extension(caller): Extension<Caller>) -> Json<Value> {
    Json(who(&caller))
}

fn who(caller: &Caller) -> Value {
    let (credential, key_id) = match &caller.credential {
        Credential::ApiKey { id } => ("api_key", Some(id.as_str())),
        Credential::Session => ("session", None),
        Credential::Open => ("none (auth.mode = \"off\")", None),
    };
    json!({
        "username": caller.username,
        "role": caller.role,
        "credential": credential,
        "key_id": key_id,
        "limits": caller.limits,
    })
}

fn set_cookie(headers: &mut HeaderMap, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
}
