//! What every section's `validate()` shares: the list of problems it collects, each named by
//! the key it concerns, and the one test of an HTTP URL (backends, CORS origins, the remote
//! Guardian).

/// The problems found in some settings, each written "key: problem".
#[derive(Default)]
pub(super) struct Problems(Vec<String>);

impl Problems {
    /// Notes `problem` under `key` unless `ok`.
    pub(super) fn check(&mut self, ok: bool, key: &str, problem: &str) {
        if !ok {
            self.0.push(format!("{key}: {problem}"));
        }
    }

    /// Notes a problem already written with its key.
    pub(super) fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    pub(super) fn into_list(self) -> Vec<String> {
        self.0
    }
}

/// Whether `url` starts with http:// or https:// and names a host after it.
pub(super) fn is_http_url(url: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .filter_map(|scheme| url.strip_prefix(scheme))
        .any(|rest| !rest.is_empty() && !rest.starts_with('/'))
}
