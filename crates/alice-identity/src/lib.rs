//! Who is asking. Every request Alice serves beyond `/health` is made by a [`Caller`]: a user
//! with a [`Role`], proved by an API key or a web session. This crate holds what identity means
//! apart from HTTP:
//!
//! - [`secrets`]: API keys (`alice_<id>_<secret>`, 256 random bits) and session tokens, stored
//!   only as SHA-256 hashes and compared in constant time;
//! - [`passwords`]: web passwords, hashed with argon2id;
//! - [`Directory`]: users, keys and sessions over the store's identity tables, and the check
//!   of a presented key or cookie;
//! - [`usernames`]: what a user name may be (the rule is `alice-core`'s, as requests are
//!   checked by it too);
//! - [`first_start`]: the `admin` user and key created when a database has no users;
//! - [`limits`]: requests and tokens per minute (GCRA, in-process or in Redis) and requests in
//!   flight, per key;
//! - [`Caller`]: the user a request is made by, their role and limits.

mod caller;
mod directory;
pub mod first_start;
pub mod limits;
pub mod passwords;
pub mod secrets;
pub use alice_core::usernames;

pub use caller::{Caller, Credential, Role};
pub use directory::{Directory, IdentityError, KeyRequest};
