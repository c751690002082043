//! Test harness: the upstream simulator and Alice, both real HTTP servers on 127.0.0.1 with
//! free ports, and small helpers to read Alice's answers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod alice_process;
pub mod child_process;
pub mod scripted_load;
pub mod sse_feed;

use alice_core::Config;
use alice_server::RunningServer;
use alice_upstream_sim::{Faults, SimHandle};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub const MODEL: &str = "gpt-oss:20b";

pub async fn start_sim(faults: Faults) -> SimHandle {
    alice_upstream_sim::spawn_local(faults).await.unwrap()
}

/// A config for a test: free port, database in `dir`, one Ollama backend at `backend_url`,
/// retries with short pauses.
pub fn config(dir: &Path, backend_url: &str) -> Config {
    let mut config = Config::default();
    config.server.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    config.database.url = format!("sqlite://{}/alice.db", dir.display());
    // The first start creates user admin and writes its key here; the harness sends it.
    config.auth.admin_key_file = dir.join("admin.key");
    config.database.erasure_log = dir.join("erasures.ndjson");
    config.backends[0].url = backend_url.to_owned();
    config.backends[0].model = MODEL.to_owned();
    config.backends[0].probe_interval = Duration::from_millis(200);
    // No background generations or warm-ups: tests count what reaches the simulator.
    config.backends[0].probe_generation = false;
    config.backends[0].warm_up = false;
    // The Guardian reads the real machine, which a test run keeps busy; tests that need it
    // script its readings (tests/guardian.rs).
    config.guardian.enabled = false;
    // Most tests send the same question several times and count what reaches the simulator;
    // the response cache would answer the repeats. tests/cache.rs turns it on.
    config.cache.enabled = false;
    // Most tests greet Alice ("Hej") to reach the simulator, which the intent layer would
    // answer itself; tests/intents.rs and tests/timers.rs turn it on.
    config.intents.enabled = false;
    // The embedded last resort would answer for a backend a test made fail (when the model is
    // installed in data/models); tests/last_resort.rs turns it on.
    config.last_resort.enabled = false;
    // Retries keep their count but not their seconds-long pauses, so tests stay fast.
    config.retry.base_delay = Duration::from_millis(20);
    config.retry.jitter = 0.0;
    config.validate().unwrap();
    config
}

pub struct Alice {
    pub server: RunningServer,
    pub base: String,
    /// Sends the admin's key with every request (an admin may act for any named user).
    pub http: reqwest::Client,
    /// The admin's API key, from the key file the first start wrote.
    pub admin_key: String,
}

/// Sends `method` to `url` with `http` (and `body` as JSON, if any); the status and the parsed
/// body (null when it is not JSON).
pub async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The admin key a first start wrote to `auth.admin_key_file`.
pub fn read_admin_key(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("the admin key file {} ({error})", path.display()))
        .trim()
        .to_owned()
}

/// A client that sends `key` as its bearer token with every request.
pub fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

impl Alice {
    pub async fn start(config: Config) -> Alice {
        let key_file = config.auth.admin_key_file.clone();
        Alice::around(alice_server::start(config).await.unwrap(), &key_file)
    }

    /// A test handle around a server started some other way, with the admin key it wrote to
    /// `key_file` (`dir.join("admin.key")` for a [`config`]).
    pub fn around(server: RunningServer, key_file: &Path) -> Alice {
        let base = format!("http://{}", server.addr());
        let admin_key = read_admin_key(key_file);
        Alice {
            server,
            base,
            http: client_with_key(&admin_key),
            admin_key,
        }
    }

    pub async fn stop(self) {
        self.server.shutdown(Duration::from_secs(5)).await.unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a JSON body to /api/chat; returns status and parsed body.
    pub async fn chat(&self, body: Value) -> (u16, Value) {
        self.post("/api/chat", body).await
    }

    /// POSTs a JSON body to `path`; returns status and the parsed body (null when the body is
    /// not JSON).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Messages of a conversation as (role, content) pairs.
    pub async fn history(&self, conversation_id: &str) -> Vec<(String, String)> {
        let (status, body) = self
            .get(&format!("/api/conversations/{conversation_id}/messages"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["role"].as_str().unwrap().to_owned(),
                    m["content"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

/// One Server-Sent Event.
#[derive(Debug)]
pub struct Sse {
    pub event: String,
    pub data: Value,
}

/// Splits an SSE body into events (comments and keep-alives skipped).
pub fn parse_sse(body: &str) -> Vec<Sse> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = Some(name.trim().to_owned());
                } else if let Some(chunk) = line.strip_prefix("data:") {
                    data.push_str(chunk.trim_start());
                }
            }
            Some(Sse {
                event: event?,
                data: serde_json::from_str(&data).unwrap(),
            })
        })
        .collect()
}

/// Waits until `check` holds, for at most `limit`.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = tokio::time::Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// Waits until the async `check` holds, for at most `limit`.
pub async fn until<F: std::future::Future<Output = bool>>(
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> bool {
    let start = tokio::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check().await
}

/// One sample line of a scrape: name, labels, value.
type SampleLine = (String, Vec<(String, String)>, f64);

/// One scrape of `/metrics`.
pub struct Scrape(Vec<SampleLine>);

impl Scrape {
    /// Parses the OpenMetrics text format (comments skipped; label values without escapes).
    pub fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let inner = rest.strip_suffix('}').unwrap();
                    let labels = inner
                        .split("\",")
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (key, value) = pair.split_once("=\"").unwrap();
                            (key.to_owned(), value.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
                None => (series.to_owned(), Vec::new()),
            };
            samples.push((name, labels, value.parse().unwrap()));
        }
        Scrape(samples)
    }

    /// The value of the one series named `name` whose labels include `labels`; 0 when there is
    /// none (a counter that never moved is not printed).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let matching: Vec<f64> = self
            .0
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, value)| *value)
            .collect();
        assert!(
            matching.len() <= 1,
            "{name} {labels:?} matches {} series",
            matching.len()
        );
        matching.first().copied().unwrap_or(0.0)
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _, _)| n == name)
    }
}

impl Alice {
    pub async fn scrape(&self) -> Scrape {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
        Scrape::parse(&response.text().await.unwrap())
    }
}

/// Adds `user` (when new) with `role` to the database of `config` and returns a new API key
/// for them, as `alice user add` and `alice key create` would.
pub async fn create_key(config: &Config, user: &str, role: alice_identity::Role) -> String {
    create_key_with(config, user, role, alice_identity::KeyRequest::default()).await
}

/// Like [`create_key`], with the key's label, expiry and limits.
pub async fn create_key_with(
    config: &Config,
    user: &str,
    role: alice_identity::Role,
    request: alice_identity::KeyRequest,
) -> String {
    let store = alice_store::Store::open(&config.database).await.unwrap();
    let directory = alice_identity::Directory::new(store.identity(), &config.auth);
    match directory.add_user(user, None, role).await {
        Ok(_) | Err(alice_identity::IdentityError::UserExists(_)) => {}
        Err(error) => panic!("cannot add {user}: {error}"),
    }
    let issued = directory.create_key(user, request).await.unwrap();
    store.close().await;
    issued.key
}

/// Sets a user's web password in the database of `config`, as `alice user password` would.
pub async fn set_password(config: &Config, user: &str, password: &str) {
    let store = alice_store::Store::open(&config.database).await.unwrap();
    let directory = alice_identity::Directory::new(store.identity(), &config.auth);
    directory.set_password(user, password).await.unwrap();
    store.close().await;
}
