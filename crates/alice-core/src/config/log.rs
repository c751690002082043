//! `[log]`: the NDJSON log's level, where it goes, how its file is rotated and how long a
//! field may be.

use super::checks::Problems;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// NDJSON logging.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Level filter in `tracing`'s syntax: "info", "debug", "info,alice_llm=debug".
    pub level: String,
    /// Write log lines to standard output.
    pub stdout: bool,
    /// Also append log lines to this file (created with its directory when missing).
    pub file: Option<PathBuf>,
    /// Rotate `file` before a line would take it past this many bytes; 0 never rotates.
    pub max_file_bytes: u64,
    /// Log files kept, the live one included (`alice.log`, `alice.log.1` … `.{max_files-1}`);
    /// 1 keeps no history. Disk use stays within about `max_file_bytes × max_files`.
    pub max_files: u32,
    /// Longest text of one field of a line, in characters; longer ones (a request path, a
    /// model name a client sent, a backend's error text) are cut and end in `…`.
    pub max_field_chars: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            stdout: true,
            file: None,
            max_file_bytes: 50 * 1024 * 1024,
            max_files: 10,
            max_field_chars: 1024,
        }
    }
}

impl LogConfig {
    /// Every problem with the values, each named by its key (`log.level: ...`); empty when the
    /// settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            !self.level.trim().is_empty(),
            "log.level",
            "must not be empty; use e.g. \"info\"",
        );
        problems.check(
            self.max_file_bytes == 0 || self.max_file_bytes >= 65_536,
            "log.max_file_bytes",
            "must be 0 (never rotate) or at least 65536 bytes, so a file holds more than a few lines",
        );
        problems.check(
            (1..=1000).contains(&self.max_files),
            "log.max_files",
            "must be between 1 (no rotated files kept) and 1000",
        );
        problems.check(
            self.max_field_chars >= 64,
            "log.max_field_chars",
            "must be at least 64 characters",
        );
        problems.into_list()
    }
}
