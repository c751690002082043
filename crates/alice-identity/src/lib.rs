//! Who is asking. Every request Alice serves beyond `/health` is made by a [`Caller`]: a user
//! with a [`Role`], proved by an API key or a web session. This crate holds what identity means
//! apart from HTTP: the caller and its rights, and the limits each caller runs under.

mod caller;

pub use caller::{Caller, Credential, Role};
