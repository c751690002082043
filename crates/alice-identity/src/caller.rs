//! [`Caller`]: the user a request is made by, how they proved it, and the limits they run
//! under. The server's authentication layer puts one in every protected request's extensions.

use alice_core::Priority;
use alice_core::config::Limits;
use serde::{Deserialize, Serialize};

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Chats, and reads and erases their own data.
    User,
    /// Everything: the control API, every user's data, backups, the full `/ready`.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// The role a stored name means.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// How a caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// An API key, by its public lookup id.
    ApiKey { id: String },
    /// The page's session cookie.
    Session,
    /// `auth.mode = "off"`: nobody proved anything; every caller is the admin.
    Open,
}

/// The user a request is made by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub username: String,
    pub role: Role,
    pub credential: Credential,
    /// The limits in force: the role's, with the key's overrides.
    pub limits: Limits,
    /// The class of its requests at the backends' queues: the key's, interactive for a web
    /// session.
    pub priority: Priority,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// What the per-key limits count under: the key's id, or the user for a session (all of a
    /// user's sessions share one budget).
    pub fn limit_key(&self) -> String {
        match &self.credential {
            Credential::ApiKey { id } => format!("key:{id}"),
            Credential::Session | Credential::Open => format!("user:{}", self.username),
        }
    }

    /// Whether this caller may act for `username`: their own name, or any name for an admin.
    pub fn may_act_for(&self, username: &str) -> bool {
        self.is_admin() || self.username == username
    }
}
