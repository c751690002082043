//! Background work that runs beside the HTTP server: the Guardian this process obeys (its own,
//! or a daemon it follows) and its emergency action, the database's housekeeping, and the
//! choice of a backend when none is configured.

pub mod backend_choice;
pub mod emergency;
pub mod guardian_link;
pub mod guardian_remote;
pub mod housekeeping;
