//! What every request passes through before and around its handler: the request id and
//! context (deadline, span, figures, the client's address), the browser defences (Host
//! allow-list, JSON bodies only), authentication (who is asking, and whether the route lets
//! them), per-key limits, the admission gate, idempotent retries of the chat routes, and the
//! extractors handlers share (JSON bodies whose errors name the field, list paging). The route table and the order of the layers are
//! in [`crate::app`].

pub mod admission;
pub mod authentication;
pub mod browser_defences;
pub mod client_addr;
pub mod idempotency;
pub mod json_body;
pub mod loopback;
pub mod paging;
pub mod rate_limit;
pub mod request_context;
pub mod request_id;
