//! Who is asking, decided once per request before anything else is done for it. Each route in
//! the table ([`crate::app::route_table`]) says who may call it ([`Access`]); this layer reads
//! the credential the request carries, turns it into a [`Caller`] (put in the request's
//! extensions for handlers and the layers after this one), and answers 401 or 403 itself when
//! the route's access is not met.
//!
//! Credentials, in order: `Authorization: Bearer <key>` (an Alice API key; on `/metrics` also
//! `auth.metrics_token`), then the page's session cookie. A cookie proves a browser, which a
//! page of another site can make send requests, so a cookie-authenticated write must also come
//! from Alice's own origin (`Origin`, or `Sec-Fetch-Site: same-origin`). With
//! `auth.mode = "off"` every caller is the admin, and nothing is checked.
//!
//! Which user's data a request may touch is decided later, where the user is named: the
//! `{user}` of a path ([`crate::api::user_path`]), a conversation's owner, a chat body's
//! `user` ([`crate::service::turn`]).

use crate::error::ApiError;
use crate::error::openai::response_for;
use alice_core::config::{AuthConfig, AuthMode};
use alice_identity::{Caller, Credential, Directory, IdentityError, Role};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::sync::Arc;

/// The cookie of a web session.
pub const SESSION_COOKIE: &str = "alice_session";

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone: `/health`, the minimal `/ready`, logging in. A valid credential still makes the
    /// caller known (an admin sees the full `/ready`).
    Public,
    /// Any user with a key or session.
    Caller,
    /// Admins only.
    Admin,
    /// `/metrics`: admins, the holder of `auth.metrics_token`, or anyone with
    /// `auth.public_metrics`.
    Metrics,
}

/// The access of every route, by its path pattern and method.
#[derive(Debug, Default)]
pub struct RouteAccess(HashMap<&'static str, Vec<(Option<Method>, Access)>>);

impl RouteAccess {
    /// The table of `(method, path, access)`; a method of None stands for any method.
    pub fn new(routes: impl IntoIterator<Item = (Option<Method>, &'static str, Access)>) -> Self {
        let mut table: HashMap<&'static str, Vec<(Option<Method>, Access)>> = HashMap::new();
        for (method, path, access) in routes {
            table.entry(path).or_default().push((method, access));
        }
        Self(table)
    }

    /// The access of a request that matched `path` with `method`. A method the path does not
    /// take is public, so that its 405 (which says which methods it takes) needs no key.
    fn of(&self, path: &str, method: &Method) -> Access {
        self.0
            .get(path)
            .and_then(|methods| {
                methods
                    .iter()
                    .find(|(m, _)| m.as_ref().is_none_or(|m| m == method))
                    .map(|(_, access)| *access)
            })
            .unwrap_or(Access::Public)
    }
}

/// The authentication layer's state: the directory of users and keys, the auth settings, and
/// the access of each route.
#[derive(Clone)]
pub struct Gatekeeper {
    directory: Directory,
    config: Arc<AuthConfig>,
    access: Arc<RouteAccess>,
}

/// What the request's credential proved.
enum Presented {
    Nothing,
    Caller(Caller),
    MetricsToken,
}

impl Gatekeeper {
    pub fn new(directory: Directory, config: &AuthConfig, access: RouteAccess) -> Self {
        Self {
            directory,
            config: Arc::new(config.clone()),
            access: Arc::new(access),
        }
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Whether a session cookie set now should be marked `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.config.secure_cookies
    }

    /// How long a new session lasts.
    pub fn session_ttl(&self) -> std::time::Duration {
        self.config.session_ttl
    }

    async fn identify(&self, headers: &HeaderMap, method: &Method) -> Result<Presented, ApiError> {
        if self.config.mode == AuthMode::Off {
            return Ok(Presented::Caller(Caller {
                username: "admin".to_owned(),
                role: Role::Admin,
                credential: Credential::Open,
                limits: self.config.limits.admin,
                priority: alice_core::Priority::Interactive,
            }));
        }
        if let Some(authorization) = headers.get(header::AUTHORIZATION) {
            let token = authorization
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::Unauthorized(
                        "the Authorization header must be \"Bearer <API key>\"; create a key with \
                         `alice key create <user>`"
                            .to_owned(),
                    )
                })?;
            if self
                .config
                .metrics_token
                .as_deref()
                .is_some_and(|expected| constant_time_eq(expected, token))
            {
                return Ok(Presented::MetricsToken);
            }
            return match self.directory.authenticate_key(token).await {
                Ok(caller) => Ok(Presented::Caller(caller)),
                Err(error) => Err(refusal(error)),
            };
        }
        if let Some(token) = session_cookie(headers) {
            let caller = self
                .directory
                .authenticate_session(token)
                .await
                .map_err(refusal)?;
            if is_write(method) && !from_own_origin(headers) {
                return Err(ApiError::Forbidden(
                    "a request authenticated by the session cookie that changes something must \
                     come from Alice's own page (its Origin did not match the Host); other \
                     clients send an API key"
                        .to_owned(),
                ));
            }
            return Ok(Presented::Caller(caller));
        }
        Ok(Presented::Nothing)
    }
}

/// The layer: identify, check the route's access, hand the caller on.
pub async fn authenticate(
    State(gate): State<Gatekeeper>,
    mut request: Request,
    next: Next,
) -> Response {
    let access = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(Access::Public, |path| {
            gate.access.of(path.as_str(), request.method())
        });
    let presented = match gate.identify(request.headers(), request.method()).await {
        Ok(presented) => presented,
        // A bad credential on a public route is ignored: /health must answer a balancer
        // that sends a stale key.
        Err(_) if access == Access::Public => Presented::Nothing,
        Err(error) => return response_for(request.uri().path(), error),
    };
    let allowed = match (&presented, access) {
        (_, Access::Public) => Ok(()),
        (Presented::MetricsToken, Access::Metrics) => Ok(()),
        (_, Access::Metrics) if gate.config.public_metrics => Ok(()),
        (Presented::Caller(_), Access::Caller) => Ok(()),
        (Presented::Caller(caller), Access::Admin | Access::Metrics) if caller.is_admin() => Ok(()),
        (Presented::Caller(caller), Access::Admin | Access::Metrics) => {
            Err(ApiError::Forbidden(format!(
                "this path is for admins, and user {:?} is not one; ask an admin, or use an \
                 admin's key",
                caller.username
            )))
        }
        (Presented::MetricsToken, _) => Err(ApiError::Unauthorized(
            "the metrics token opens /metrics only; send an API key".to_owned(),
        )),
        (Presented::Nothing, _) => Err(ApiError::Unauthorized(
            "send an API key as \"Authorization: Bearer alice_…\" (the first admin's key is in \
             auth.admin_key_file, data/admin.key by default; `alice key create <user>` makes \
             more), or log in on the page"
                .to_owned(),
        )),
    };
    if let Err(error) = allowed {
        return response_for(request.uri().path(), error);
    }
    let Presented::Caller(caller) = presented else {
        return next.run(request).await;
    };
    let user = AuthenticatedUser(caller.username.clone());
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    response.extensions_mut().insert(user);
    response
}

/// Who a response was for, for the request's log line (the request context, outside this
/// layer, sees only the response).
#[derive(Clone, Debug)]
pub struct AuthenticatedUser(pub String);

/// A credential that proves nobody: why goes to the log, not to the client (which key ids
/// exist is nobody's business).
fn refusal(error: IdentityError) -> ApiError {
    if !matches!(error, IdentityError::Store(_)) {
        tracing::info!(evt = "credential_refused", reason = %error);
    }
    ApiError::from(error)
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The value of the session cookie, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Whether a browser says the request comes from a page of this very Alice: `Origin` naming
/// the request's own host, or `Sec-Fetch-Site: same-origin`.
fn from_own_origin(headers: &HeaderMap) -> bool {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site") == Some("same-origin") {
        return true;
    }
    match (header("origin"), header("host")) {
        (Some(origin), Some(host)) => origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|authority| authority.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

fn constant_time_eq(expected: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    expected.as_bytes().ct_eq(presented.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let map = headers(&[("cookie", "theme=dark; alice_session=abc123; lang=sv")]);
        assert_eq!(session_cookie(&map), Some("abc123"));
        assert_eq!(
            session_cookie(&headers(&[("cookie", "alice_session=")])),
            None
        );
        assert_eq!(session_cookie(&headers(&[("cookie", "other=1")])), None);
    }

    #[test]
    fn only_alices_own_origin_may_write_with_a_cookie() {
        let own = headers(&[
            ("host", "127.0.0.1:8000"),
            ("origin", "http://127.0.0.1:8000"),
        ]);
        assert!(from_own_origin(&own));
        let foreign = headers(&[
            ("host", "127.0.0.1:8000"),
            ("origin", "http://evil.example"),
        ]);
        assert!(!from_own_origin(&foreign));
        assert!(!from_own_origin(&headers(&[("host", "127.0.0.1:8000")])));
        assert!(from_own_origin(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(!from_own_origin(&headers(&[(
            "sec-fetch-site",
            "cross-site"
        )])));
    }

    #[test]
    fn a_method_a_path_does_not_take_is_public_for_its_405() {
        let access = RouteAccess::new([
            (Some(Method::GET), "/api/x", Access::Caller),
            (None, "/v1/{*rest}", Access::Caller),
        ]);
        assert_eq!(access.of("/api/x", &Method::GET), Access::Caller);
        assert_eq!(access.of("/api/x", &Method::POST), Access::Public);
        assert_eq!(access.of("/v1/{*rest}", &Method::PUT), Access::Caller);
        assert_eq!(access.of("/nowhere", &Method::GET), Access::Public);
    }
}
