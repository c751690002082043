//! The one typed configuration of Alice.
//!
//! Values come, in rising precedence, from the built-in defaults, from `alice.toml` (or the file
//! named by `--config` / `ALICE_CONFIG`) and from `ALICE_*` environment variables, where a double
//! underscore separates a section from its key: `ALICE_SERVER__BIND=0.0.0.0:8000` sets
//! `server.bind`. Unknown keys are errors, not silently ignored, and every value is checked once
//! by [`Config::load`]: a program that holds a `Config` holds a valid one. Every setting and its
//! default is documented in `alice.example.toml` at the repository root.

use crate::BrownoutLevel;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file read when no path is given and it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "alice.toml";

/// `ALICE_*` variables that are not configuration keys: the config file's path, the data
/// directory of `scripts/fetch-model.sh` (see [`DEFAULT_EMBEDDED_MODEL_PATH`]), and every
/// `ALICE_TEST_*` variable, which belong to the test suite (service URLs, tool paths).
fn is_config_variable(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key != "config" && key != "data_dir" && !key.starts_with("test_")
}

/// Why a configuration could not be loaded. The message names the key and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist (given by --config or ALICE_CONFIG)")]
    MissingFile(PathBuf),
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub deadlines: DeadlineConfig,
    pub database: DatabaseConfig,
    /// LLM backends in order of preference. Written as `[[backends]]` tables in the file; from
    /// the environment as one inline TOML array:
    /// `ALICE_BACKENDS='[{name="ollama", kind="ollama", url="http://127.0.0.1:11434", model="gpt-oss:20b"}]'`.
    pub backends: Vec<BackendConfig>,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
    pub adaptive_concurrency: AdaptiveConcurrencyConfig,
    pub guardian: GuardianConfig,
    pub chat: ChatConfig,
    pub cache: CacheConfig,
    pub memory: MemoryConfig,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            deadlines: DeadlineConfig::default(),
            database: DatabaseConfig::default(),
            backends: vec![BackendConfig::default()],
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            adaptive_concurrency: AdaptiveConcurrencyConfig::default(),
            guardian: GuardianConfig::default(),
            chat: ChatConfig::default(),
            cache: CacheConfig::default(),
            memory: MemoryConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// The HTTP listener.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// Largest request body accepted, in bytes; larger bodies get 413.
    pub body_limit_bytes: usize,
    /// How long a shutdown waits for requests in flight before it gives up on them.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Web origins (e.g. "http://localhost:3000") whose pages may call Alice from a browser.
    /// Empty (the default): no CORS headers, so other sites' pages cannot use a local Alice.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            body_limit_bytes: 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// Per-path deadlines: a request still running at its deadline is answered with 504.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineConfig {
    #[serde(with = "humantime_serde")]
    pub chat: Duration,
    #[serde(with = "humantime_serde")]
    pub brain: Duration,
    #[serde(with = "humantime_serde")]
    pub agent: Duration,
    #[serde(with = "humantime_serde")]
    pub upload: Duration,
    /// Every path not named above.
    #[serde(with = "humantime_serde")]
    pub default: Duration,
}

impl Default for DeadlineConfig {
    fn default() -> Self {
        Self {
            chat: Duration::from_secs(30),
            brain: Duration::from_secs(15),
            agent: Duration::from_secs(25),
            upload: Duration::from_secs(45),
            default: Duration::from_secs(10),
        }
    }
}

impl DeadlineConfig {
    /// The deadline that applies to a request path.
    pub fn for_path(&self, path: &str) -> Duration {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/api/chat") || under("/v1/chat/completions") {
            self.chat
        } else if under("/api/brain") {
            self.brain
        } else if under("/api/agent") {
            self.agent
        } else if under("/api/upload") {
            self.upload
        } else {
            self.default
        }
    }
}

/// SQLite's `synchronous` pragma.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Off,
    Normal,
    Full,
}

/// The database that keeps users, conversations, messages and memories.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (relative paths are relative to the working directory; the directory is
    /// created when missing), or `postgres://USER@HOST:PORT/DATABASE` for PostgreSQL, when
    /// several Alice instances share state.
    pub url: String,
    /// PostgreSQL only: the schema Alice's tables live in (created when missing). None keeps
    /// the server's search_path (normally `public`).
    pub schema: Option<String>,
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before it is answered 503.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// SQLite: how long a writer waits for a lock held by another before it fails.
    #[serde(with = "humantime_serde")]
    pub busy_timeout: Duration,
    /// SQLite page cache per connection, in MiB.
    pub cache_size_mib: u32,
    /// SQLite write-ahead log; when off, the rollback journal is used.
    pub wal: bool,
    pub synchronous: Synchronous,
    pub foreign_keys: bool,
    /// The write batcher: most turns committed in one transaction.
    pub batch_max_turns: usize,
    /// How long the batcher waits for more turns once one has arrived. Zero commits what is
    /// queued at once (turns that arrive during a commit form the next batch).
    #[serde(with = "humantime_serde")]
    pub batch_max_wait: Duration,
    /// Turns waiting for the batcher; when full, requests wait (back-pressure), nothing is dropped.
    pub batch_queue: usize,
    /// Messages older than this are deleted by a periodic job; zero keeps them forever.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often the retention job runs.
    #[serde(with = "humantime_serde")]
    pub retention_interval: Duration,
    /// How often a downsampled Guardian sample is written to `system_metrics`; zero writes none.
    #[serde(with = "humantime_serde")]
    pub system_metrics_interval: Duration,
}

impl DatabaseConfig {
    /// Whether the URL names a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/alice.db".to_owned(),
            schema: None,
            max_connections: 5,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(30),
            cache_size_mib: 64,
            wal: true,
            synchronous: Synchronous::Normal,
            foreign_keys: true,
            batch_max_turns: 64,
            batch_max_wait: Duration::ZERO,
            batch_queue: 1024,
            retention: Duration::ZERO,
            retention_interval: Duration::from_secs(3600),
            system_metrics_interval: Duration::from_secs(60),
        }
    }
}

/// Personal memories: "kom ihåg att …" stores one, later requests get the relevant ones.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// Whether "kom ihåg" / "glöm" are acted on and memories are added to prompts.
    pub enabled: bool,
    /// Whether a memory may keep a Swedish personal identity number; when false it is masked
    /// before the memory is stored.
    pub allow_personal_numbers: bool,
    /// Longest memory, in characters.
    pub max_chars: usize,
    /// Most memories one user may have.
    pub max_per_user: u32,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_personal_numbers: false,
            max_chars: 1000,
            max_per_user: 1000,
        }
    }
}

/// Which protocol a backend speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Ollama's native API (`/api/chat`), which takes `num_ctx` and `keep_alive`.
    Ollama,
    /// Any OpenAI-compatible server (`/v1/chat/completions`).
    Openai,
    /// A GGUF model run inside Alice's own process through llama.cpp (cargo feature
    /// `embedded`, on by default). `url` is not used; `model_path` names the file.
    Embedded,
}

/// Where an embedded backend without `model_path` looks for its model, relative to the working
/// directory: where `scripts/fetch-model.sh` puts SmolLM2-135M-Instruct. When `ALICE_DATA_DIR`
/// is set (the script honours it too), `$ALICE_DATA_DIR/models/<file>` instead.
pub const DEFAULT_EMBEDDED_MODEL_PATH: &str = "data/models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// One LLM backend. Alice tries backends in the order listed: the first is the primary, the
/// others are fallbacks used when it is open, saturated or fails before its first token.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendConfig {
    /// Short name used in logs, metrics and the answer's `model` field.
    pub name: String,
    pub kind: BackendKind,
    /// Base URL: "http://127.0.0.1:11434" for Ollama, "https://api.openai.com/v1" style
    /// (including the `/v1`) for OpenAI-compatible servers.
    pub url: String,
    /// The model to ask for; for Ollama it must have been pulled (`ollama pull MODEL`).
    pub model: String,
    /// Name of the environment variable that holds the API key (OpenAI-compatible servers).
    /// A missing variable is logged and the backend is tried without a key.
    pub api_key_env: Option<String>,
    /// Ollama only: how long the model stays loaded after a request: a duration such as
    /// "15m", seconds as a number, "0" to unload at once, "-1" to keep it loaded.
    pub keep_alive: String,
    /// Requests sent to this backend at once, at most.
    pub max_concurrent: usize,
    /// Requests that may wait for a free slot; more are refused at once with 503.
    pub queue_depth: usize,
    /// Longest wait for a free slot; a request that would wait longer (or past its deadline)
    /// is refused at once with 503.
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// Time allowed to open a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time allowed from sending the request to the first token.
    #[serde(with = "humantime_serde")]
    pub first_token_timeout: Duration,
    /// Longest silence allowed between two tokens of a stream.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How often Alice checks in the background that the backend answers and has the model.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// The probe also asks for a 5-token answer to "Hej" (only when a slot is free, so it
    /// never adds to a busy backend's load).
    pub probe_generation: bool,
    /// That answer's first token must come within this for the backend to count as healthy.
    #[serde(with = "humantime_serde")]
    pub probe_first_token_max: Duration,
    /// Ollama only: load the model when Alice starts, and ask Ollama to keep it loaded every
    /// `keep_alive_refresh`, so the first user does not wait for the model to load.
    pub warm_up: bool,
    #[serde(with = "humantime_serde")]
    pub keep_alive_refresh: Duration,
    /// Embedded only: the GGUF file to load. Unset: [`DEFAULT_EMBEDDED_MODEL_PATH`].
    pub model_path: Option<PathBuf>,
    /// Embedded only: CPU threads per generation. Unset: the machine's cores divided by
    /// `max_concurrent` (at least 1), so that generations at once never share a core; more
    /// threads than that make every answer slower, not faster.
    pub threads: Option<u32>,
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            name: "ollama".to_owned(),
            kind: BackendKind::Ollama,
            url: "http://127.0.0.1:11434".to_owned(),
            model: "gpt-oss:20b".to_owned(),
            api_key_env: None,
            keep_alive: "15m".to_owned(),
            max_concurrent: 3,
            queue_depth: 16,
            queue_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            first_token_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(10),
            probe_interval: Duration::from_secs(30),
            probe_generation: true,
            probe_first_token_max: Duration::from_millis(1200),
            warm_up: true,
            keep_alive_refresh: Duration::from_secs(8 * 60),
            model_path: None,
            threads: None,
        }
    }
}

impl BackendConfig {
    /// An embedded backend named "embedded" for the GGUF at `model_path` (default:
    /// [`DEFAULT_EMBEDDED_MODEL_PATH`]), its model named after the file, as many answers at
    /// once as there are cores, at most 4 (each with cores / that threads), the other settings
    /// at their defaults. On 2 cores: 2 answers of ~80 tokens/s each (SmolLM2-135M) rather than
    /// 1 of ~125.
    pub fn embedded(model_path: Option<PathBuf>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut config = Self {
            name: "embedded".to_owned(),
            kind: BackendKind::Embedded,
            url: String::new(),
            model_path,
            max_concurrent: cores.clamp(1, 4),
            ..Self::default()
        };
        config.model = config.embedded_model_name();
        config
    }

    /// Embedded only: the GGUF file this backend loads.
    pub fn embedded_model_path(&self) -> PathBuf {
        if let Some(path) = &self.model_path {
            return path.clone();
        }
        let default = Path::new(DEFAULT_EMBEDDED_MODEL_PATH);
        match (std::env::var_os("ALICE_DATA_DIR"), default.file_name()) {
            (Some(dir), Some(file)) if !dir.is_empty() => Path::new(&dir).join("models").join(file),
            _ => default.to_path_buf(),
        }
    }

    /// Embedded only: the model's name when none is configured: the GGUF file's stem.
    pub fn embedded_model_name(&self) -> String {
        self.embedded_model_path().file_stem().map_or_else(
            || "embedded".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        )
    }
}

/// The one retry loop's settings: retries on connection errors, timeouts and 5xx before the
/// first token, never on 4xx, never past the request's deadline.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Retries after the first attempt, at most.
    pub max_retries: u32,
    /// Wait before the first retry; each later one waits twice as long.
    #[serde(with = "humantime_serde")]
    pub base_delay: Duration,
    /// Fraction of each wait that is randomised (0.2 = ±20 %), so clients do not retry in step.
    pub jitter: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_secs(1),
            jitter: 0.2,
        }
    }
}

/// The circuit breaker of each backend: it opens on a failure *rate* over a time window.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// The window over which outcomes are counted.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Outcomes needed in the window before the rate counts.
    pub min_requests: u32,
    /// Failure fraction (0-1) at or above which the breaker opens.
    pub failure_rate: f64,
    /// How long an open breaker refuses requests before a probe may try the backend.
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
    /// Successful probes needed, half-open, to close again.
    pub close_after: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(30),
            min_requests: 5,
            failure_rate: 0.5,
            open_for: Duration::from_secs(10),
            close_after: 2,
        }
    }
}

/// Adaptive concurrency: instead of a fixed `max_concurrent`, each backend's limit moves
/// between `min` and `max` to keep the p95 of its answer times near `target_p95` (AIMD: one
/// more slot while under target, a quarter fewer when over).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptiveConcurrencyConfig {
    pub enabled: bool,
    pub min: usize,
    pub max: usize,
    /// The limit to start from.
    pub initial: usize,
    #[serde(with = "humantime_serde")]
    pub target_p95: Duration,
    /// Completed answers between two adjustments; their p95 decides the step.
    pub sample_size: usize,
}

impl Default for AdaptiveConcurrencyConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            min: 1,
            max: 10,
            initial: 5,
            target_p95: Duration::from_millis(2000),
            sample_size: 20,
        }
    }
}

/// Largest Guardian threshold accepted; anything above 1.0 already means "never".
const MAX_THRESHOLD: f64 = 10.0;

/// The Guardian: resource sampling, its state machine and the brownout it asks for
/// (`[guardian]`); the rules are documented in the alice-guardian crate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardianConfig {
    /// Whether the Guardian runs at all; when off, Alice admits everything at NORMAL.
    pub enabled: bool,
    /// Time between two samples.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How many consecutive samples the soft trigger and the recovery rule look at.
    pub window: usize,
    /// Root of the /proc and /sys trees read by the sampler ("/" on a normal host; a mounted
    /// host root such as "/host" when the Guardian watches a machine from a container).
    pub root: PathBuf,
    /// A path on the data volume whose fill level is watched (the nearest existing ancestor
    /// is used while it does not exist yet).
    pub data_dir: PathBuf,

    /// Soft trigger (-> BROWNOUT): every RAM sample in the window at or above this fraction...
    pub soft_ram: f64,
    /// ...or every CPU sample in the window at or above this fraction.
    pub soft_cpu: f64,
    /// Hard trigger (-> EMERGENCY): one RAM sample at or above this fraction.
    pub hard_ram: f64,
    /// Hard trigger: one CPU sample at or above this fraction.
    pub hard_cpu: f64,
    /// Hard trigger: one disk sample at or above this fraction.
    pub hard_disk: f64,
    /// Hard trigger: one temperature reading at or above this, in degrees Celsius.
    pub hard_temp_c: f64,
    /// Recovery (-> NORMAL): every RAM sample in the window below this fraction...
    pub recover_ram: f64,
    /// ...and every CPU sample in the window below this fraction...
    pub recover_cpu: f64,
    /// ...and at least this long in the current state. Also the least time before any step down.
    #[serde(with = "humantime_serde")]
    pub min_dwell: Duration,
    /// BROWNOUT turns DEGRADED when the soft trigger has held without a break this long.
    #[serde(with = "humantime_serde")]
    pub degrade_after: Duration,
    /// The brownout level served in the BROWNOUT state (DEGRADED serves HEAVY).
    pub brownout_level: BrownoutLevel,

    /// Flap detection: this many state changes within `flap_window`...
    pub flap_transitions: usize,
    /// ...hold the machine: it may still step up, but steps down wait until the old changes
    /// have left this window, so a flap always ends.
    #[serde(with = "humantime_serde")]
    pub flap_window: Duration,

    /// Least time between two emergency kills; a hard trigger sooner falls back to BROWNOUT.
    #[serde(with = "humantime_serde")]
    pub kill_cooldown: Duration,
    /// This many kills within `kill_window` put the Guardian into LOCKDOWN.
    pub kill_limit: usize,
    #[serde(with = "humantime_serde")]
    pub kill_window: Duration,
    /// How long LOCKDOWN lasts unless an operator overrides it.
    #[serde(with = "humantime_serde")]
    pub lockdown_for: Duration,

    /// Consecutive samples without a RAM or CPU reading before the host counts as under
    /// pressure (the samples before that are ignored).
    pub unknown_strikes: u32,
    /// In an emergency, how long answers in flight may finish before they are cut (then the
    /// model is unloaded).
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Use a Guardian daemon (`alice guardian`) at this URL instead of running one in this
    /// process, so one Guardian watches a machine that runs several Alice processes.
    pub remote_url: Option<String>,
    /// How often the daemon's status is fetched (Alice answers from the latest).
    #[serde(with = "humantime_serde")]
    pub remote_poll: Duration,
    /// How long one status fetch may take before it counts as unknown.
    #[serde(with = "humantime_serde")]
    pub remote_timeout: Duration,
    /// Retry-After on chat requests shed with 429 in DEGRADED.
    #[serde(with = "humantime_serde")]
    pub shed_retry_after: Duration,
    /// Retry-After on requests refused with 503 in EMERGENCY and LOCKDOWN.
    #[serde(with = "humantime_serde")]
    pub refuse_retry_after: Duration,
}

impl Default for GuardianConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(1),
            window: 3,
            root: PathBuf::from("/"),
            data_dir: PathBuf::from("data"),
            soft_ram: 0.80,
            soft_cpu: 0.80,
            hard_ram: 0.92,
            hard_cpu: 0.92,
            hard_disk: 0.95,
            hard_temp_c: 90.0,
            recover_ram: 0.70,
            recover_cpu: 0.75,
            min_dwell: Duration::from_secs(45),
            degrade_after: Duration::from_secs(60),
            brownout_level: BrownoutLevel::Moderate,
            flap_transitions: 4,
            flap_window: Duration::from_secs(300),
            kill_cooldown: Duration::from_secs(300),
            kill_limit: 3,
            kill_window: Duration::from_secs(1800),
            lockdown_for: Duration::from_secs(3600),
            unknown_strikes: 3,
            drain_timeout: Duration::from_secs(10),
            remote_url: None,
            remote_poll: Duration::from_millis(300),
            remote_timeout: Duration::from_millis(500),
            shed_retry_after: Duration::from_secs(5),
            refuse_retry_after: Duration::from_secs(15),
        }
    }
}

impl GuardianConfig {
    /// Every problem with the values, each named by its key (`guardian.window: ...`); empty when
    /// the settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(url) = &self.remote_url
            && !is_http_url(url)
        {
            problems.push(format!(
                "guardian.remote_url: {url:?} must start with http:// or https://, e.g. \"http://127.0.0.1:8787\""
            ));
        }
        if self.remote_poll.is_zero() || self.remote_timeout.is_zero() {
            problems.push(
                "guardian.remote_poll and guardian.remote_timeout must be longer than zero".into(),
            );
        }
        let mut check = |ok: bool, key: &str, problem: &str| {
            if !ok {
                problems.push(format!("guardian.{key}: {problem}"));
            }
        };
        check(
            self.interval >= Duration::from_millis(100),
            "interval",
            "must be at least 100ms (sampling /proc faster measures noise)",
        );
        check(
            (1..=120).contains(&self.window),
            "window",
            "must be between 1 and 120 samples",
        );
        for (key, value) in [
            ("soft_ram", self.soft_ram),
            ("soft_cpu", self.soft_cpu),
            ("hard_ram", self.hard_ram),
            ("hard_cpu", self.hard_cpu),
            ("hard_disk", self.hard_disk),
            ("recover_ram", self.recover_ram),
            ("recover_cpu", self.recover_cpu),
        ] {
            // Above 1.0 is allowed: a reading never gets there, which switches the trigger off
            // (e.g. hard_cpu on a machine whose model runs on the CPU and keeps it busy).
            check(
                value.is_finite() && value > 0.0 && value <= MAX_THRESHOLD,
                key,
                "must be a fraction above 0, e.g. 0.8 for 80 % (above 1.0 switches it off; at most 10)",
            );
        }
        check(
            self.recover_ram < self.soft_ram,
            "recover_ram",
            "must be below guardian.soft_ram, or the machine cannot settle between them",
        );
        check(
            self.recover_cpu < self.soft_cpu,
            "recover_cpu",
            "must be below guardian.soft_cpu, or the machine cannot settle between them",
        );
        check(
            self.soft_ram < self.hard_ram,
            "soft_ram",
            "must be below guardian.hard_ram",
        );
        check(
            self.soft_cpu < self.hard_cpu,
            "soft_cpu",
            "must be below guardian.hard_cpu",
        );
        check(
            self.hard_temp_c > 0.0 && self.hard_temp_c < 150.0,
            "hard_temp_c",
            "must be between 0 and 150 degrees Celsius",
        );
        check(
            self.flap_transitions >= 2,
            "flap_transitions",
            "must be at least 2",
        );
        check(
            !self.flap_window.is_zero(),
            "flap_window",
            "must be longer than zero",
        );
        check(self.kill_limit >= 1, "kill_limit", "must be at least 1");
        check(
            self.kill_window >= self.kill_cooldown,
            "kill_window",
            "must be at least guardian.kill_cooldown",
        );
        check(
            !self.lockdown_for.is_zero(),
            "lockdown_for",
            "must be longer than zero",
        );
        check(
            self.unknown_strikes >= 1,
            "unknown_strikes",
            "must be at least 1",
        );
        check(
            self.brownout_level != BrownoutLevel::None,
            "brownout_level",
            "must be LIGHT, MODERATE or HEAVY",
        );
        problems
    }
}

/// How a chat request becomes a model request.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// Context window asked of the model (Ollama `num_ctx`), in tokens. History is trimmed so
    /// that the prompt plus `max_tokens` fits in it.
    pub num_ctx: u32,
    /// Most tokens the model may generate for one answer (Ollama `num_predict`).
    pub max_tokens: u32,
    pub temperature: f32,
    /// Earlier messages of the conversation sent with a new one, at most.
    pub history_messages: usize,
    /// Longest user message accepted, in characters.
    pub max_message_chars: usize,
    /// The system prompt put before every conversation.
    pub system_prompt: String,
    /// The model asked for under MODERATE and HEAVY brownout (on the same backend); not set:
    /// the configured model serves, with the preset's other cuts.
    pub smaller_model: Option<String>,
    /// The model asked for under EMERGENCY; not set: `smaller_model`, or the configured one.
    pub smallest_model: Option<String>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            num_ctx: 4096,
            max_tokens: 2048,
            temperature: 0.3,
            history_messages: 8,
            max_message_chars: 8000,
            system_prompt:
                "Du är Alice, en hjälpsam svensk AI-assistent. Svara kort och vänligt på svenska."
                    .to_owned(),
            smaller_model: None,
            smallest_model: None,
        }
    }
}

/// The response cache: answers that do not depend on who asks, when, or what came before are
/// kept and served again, and identical such requests in flight share one backend call.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Serve and keep shareable answers. Off: every request goes to a backend.
    pub enabled: bool,
    /// Answers kept at most.
    pub max_entries: u64,
    /// Bytes of answer text kept at most, over all entries.
    pub max_bytes: u64,
    /// How long an answer is served again.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// A Redis server shared by several Alice instances, e.g. "redis://127.0.0.1:6379"; not
    /// set: this instance's memory only.
    pub redis_url: Option<String>,
    /// Prefix of Alice's keys in Redis, so instances that should not share answers can use
    /// the same server.
    pub redis_key_prefix: String,
    /// Longest wait for Redis on a request; slower is treated as a miss.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
    /// After Redis failed, how long requests skip it before it is tried again.
    #[serde(with = "humantime_serde")]
    pub redis_retry_after: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: 500,
            max_bytes: 16 * 1024 * 1024,
            ttl: Duration::from_secs(15 * 60),
            redis_url: None,
            redis_key_prefix: "alice:cache:v1".to_owned(),
            redis_timeout: Duration::from_millis(100),
            redis_retry_after: Duration::from_secs(5),
        }
    }
}

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
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            stdout: true,
            file: None,
            max_file_bytes: 50 * 1024 * 1024,
            max_files: 10,
        }
    }
}

impl Config {
    /// Reads the configuration: defaults, then the file, then `ALICE_*` variables; then checks
    /// every value. `path` is the file named by `--config` or `ALICE_CONFIG`, which must exist;
    /// without it `alice.toml` is read when present.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.into())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        let env = Env::prefixed("ALICE_")
            .filter(|key| is_config_variable(key.as_str()))
            .split("__");
        let mut config: Config = figment
            .merge(env)
            .extract()
            .map_err(|errors| ConfigError::Invalid(errors.into_iter().map(describe).collect()))?;
        // An embedded backend left with the default (Ollama) model name is named after its file.
        let default_model = BackendConfig::default().model;
        for backend in &mut config.backends {
            if backend.kind == BackendKind::Embedded && backend.model == default_model {
                backend.model = backend.embedded_model_name();
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Whether the configuration file or the environment names backends. When neither does,
    /// the built-in default (Ollama on this machine) is in force, and `alice serve` may choose
    /// the embedded model instead when Ollama does not answer.
    pub fn backends_configured(path: Option<&Path>) -> bool {
        let mut figment = Figment::new();
        match path {
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file(DEFAULT_CONFIG_FILE)),
        }
        figment
            .merge(
                Env::prefixed("ALICE_")
                    .filter(|key| is_config_variable(key.as_str()))
                    .split("__"),
            )
            .contains("backends")
    }

    /// Checks what types alone cannot: ranges, formats and how settings relate.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, problem: &str| {
            if !ok {
                problems.push(format!("{key}: {problem}"));
            }
        };
        for origin in &self.server.cors_allowed_origins {
            check(
                is_http_url(origin) && !origin.ends_with('/'),
                "server.cors_allowed_origins",
                "each origin is a scheme and host without a path, e.g. \"http://localhost:3000\"",
            );
        }
        check(
            self.server.body_limit_bytes >= 1024,
            "server.body_limit_bytes",
            "must be at least 1024 bytes",
        );
        for (key, value) in [
            ("deadlines.chat", self.deadlines.chat),
            ("deadlines.brain", self.deadlines.brain),
            ("deadlines.agent", self.deadlines.agent),
            ("deadlines.upload", self.deadlines.upload),
            ("deadlines.default", self.deadlines.default),
        ] {
            check(!value.is_zero(), key, "must be longer than zero");
        }
        check(
            self.database.url.starts_with("sqlite:") || self.database.is_postgres(),
            "database.url",
            "must be a sqlite:// URL such as \"sqlite://data/alice.db\" or a postgres:// URL \
             such as \"postgres://alice@127.0.0.1:5432/alice\"",
        );
        check(
            self.database.schema.as_deref().is_none_or(|schema| {
                !schema.is_empty()
                    && schema.len() <= 63
                    && schema
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            }),
            "database.schema",
            "must be 1 to 63 lowercase letters, digits or _",
        );
        check(
            self.database.batch_max_turns >= 1 && self.database.batch_queue >= 1,
            "database.batch_max_turns",
            "batch_max_turns and batch_queue must be at least 1",
        );
        check(
            !self.database.acquire_timeout.is_zero(),
            "database.acquire_timeout",
            "must be longer than zero",
        );
        check(
            !self.database.retention_interval.is_zero(),
            "database.retention_interval",
            "must be longer than zero",
        );
        check(
            self.memory.max_chars >= 10,
            "memory.max_chars",
            "must be at least 10",
        );
        check(
            self.database.max_connections >= 1,
            "database.max_connections",
            "must be at least 1",
        );
        check(
            self.database.cache_size_mib >= 1,
            "database.cache_size_mib",
            "must be at least 1",
        );
        check(
            !self.backends.is_empty(),
            "backends",
            "list at least one backend, e.g. [[backends]] with kind = \"ollama\"",
        );
        for (i, backend) in self.backends.iter().enumerate() {
            let key = |field: &str| format!("backends[{i}].{field}");
            check(
                !backend.name.trim().is_empty()
                    && self
                        .backends
                        .iter()
                        .filter(|b| b.name == backend.name)
                        .count()
                        == 1,
                &key("name"),
                "must be a non-empty name that no other backend has",
            );
            check(
                backend.kind == BackendKind::Embedded || is_http_url(&backend.url),
                &key("url"),
                "must start with http:// or https:// and name a host, e.g. \"http://127.0.0.1:11434\"",
            );
            check(
                backend
                    .model_path
                    .as_ref()
                    .is_none_or(|path| !path.as_os_str().is_empty()),
                &key("model_path"),
                "must name a GGUF file, e.g. \"data/models/SmolLM2-135M-Instruct.Q4_1.gguf\" \
                 (or leave it out for that default)",
            );
            check(
                backend.threads.is_none_or(|t| (1..=1024).contains(&t)),
                &key("threads"),
                "must be between 1 and 1024 (or left out: cores / max_concurrent)",
            );
            check(
                !backend.model.trim().is_empty(),
                &key("model"),
                "must name a model, e.g. \"gpt-oss:20b\"",
            );
            check(
                is_keep_alive(&backend.keep_alive),
                &key("keep_alive"),
                "must be a duration such as \"15m\", a number of seconds, \"0\" or \"-1\"",
            );
            check(
                (1..=1024).contains(&backend.max_concurrent),
                &key("max_concurrent"),
                "must be between 1 and 1024",
            );
            for (field, value) in [
                ("queue_timeout", backend.queue_timeout),
                ("connect_timeout", backend.connect_timeout),
                ("first_token_timeout", backend.first_token_timeout),
                ("idle_timeout", backend.idle_timeout),
                ("probe_interval", backend.probe_interval),
                ("probe_first_token_max", backend.probe_first_token_max),
                ("keep_alive_refresh", backend.keep_alive_refresh),
            ] {
                check(!value.is_zero(), &key(field), "must be longer than zero");
            }
        }
        check(
            self.cache.max_entries >= 1,
            "cache.max_entries",
            "must be at least 1 (set cache.enabled = false to switch the cache off)",
        );
        check(
            self.cache.max_bytes >= 1024,
            "cache.max_bytes",
            "must be at least 1024 bytes",
        );
        check(
            !self.cache.ttl.is_zero(),
            "cache.ttl",
            "must be longer than zero",
        );
        if let Some(url) = &self.cache.redis_url {
            check(
                url.starts_with("redis://"),
                "cache.redis_url",
                "must be a redis:// URL, e.g. \"redis://127.0.0.1:6379\" (TLS, rediss://, is \
                 not built in: reach Redis over loopback or a trusted network)",
            );
        }
        check(
            !self.cache.redis_timeout.is_zero(),
            "cache.redis_timeout",
            "must be longer than zero",
        );
        check(
            !self.cache.redis_retry_after.is_zero(),
            "cache.redis_retry_after",
            "must be longer than zero",
        );
        check(
            self.retry.max_retries <= 10,
            "retry.max_retries",
            "must be at most 10",
        );
        check(
            (0.0..=1.0).contains(&self.retry.jitter),
            "retry.jitter",
            "must be between 0.0 and 1.0",
        );
        check(
            !self.breaker.window.is_zero(),
            "breaker.window",
            "must be longer than zero",
        );
        check(
            self.breaker.min_requests >= 1,
            "breaker.min_requests",
            "must be at least 1",
        );
        check(
            self.breaker.failure_rate > 0.0 && self.breaker.failure_rate <= 1.0,
            "breaker.failure_rate",
            "must be above 0.0 and at most 1.0",
        );
        check(
            !self.breaker.open_for.is_zero(),
            "breaker.open_for",
            "must be longer than zero",
        );
        let adaptive = &self.adaptive_concurrency;
        check(
            adaptive.min >= 1
                && adaptive.min <= adaptive.initial
                && adaptive.initial <= adaptive.max,
            "adaptive_concurrency",
            "needs 1 <= min <= initial <= max",
        );
        check(
            adaptive.max <= 1024,
            "adaptive_concurrency.max",
            "must be at most 1024",
        );
        check(
            adaptive.sample_size >= 5,
            "adaptive_concurrency.sample_size",
            "must be at least 5, or the p95 means little",
        );
        check(
            !adaptive.target_p95.is_zero(),
            "adaptive_concurrency.target_p95",
            "must be longer than zero",
        );
        check(
            self.breaker.close_after >= 1,
            "breaker.close_after",
            "must be at least 1",
        );
        check(
            (256..=1_048_576).contains(&self.chat.num_ctx),
            "chat.num_ctx",
            "must be between 256 and 1048576 tokens",
        );
        check(
            self.chat.max_tokens >= 1 && self.chat.max_tokens < self.chat.num_ctx,
            "chat.max_tokens",
            "must be at least 1 and smaller than chat.num_ctx, so the prompt has room",
        );
        check(
            (0.0..=2.0).contains(&self.chat.temperature),
            "chat.temperature",
            "must be between 0.0 and 2.0",
        );
        check(
            self.chat.max_message_chars >= 1,
            "chat.max_message_chars",
            "must be at least 1",
        );
        check(
            self.chat.history_messages <= 1000,
            "chat.history_messages",
            "must be at most 1000",
        );
        check(
            !self.log.level.trim().is_empty(),
            "log.level",
            "must not be empty; use e.g. \"info\"",
        );
        check(
            self.log.max_file_bytes == 0 || self.log.max_file_bytes >= 65_536,
            "log.max_file_bytes",
            "must be 0 (never rotate) or at least 65536 bytes, so a file holds more than a few lines",
        );
        check(
            (1..=1000).contains(&self.log.max_files),
            "log.max_files",
            "must be between 1 (no rotated files kept) and 1000",
        );
        problems.extend(self.guardian.validate());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// One figment error as "key: problem (from where)", naming the exact environment variable
/// when the value came from one.
fn describe(error: figment::Error) -> String {
    let key = error.path.join(".").to_ascii_lowercase();
    let origin = match &error.metadata {
        Some(meta) if meta.name.contains("environment") => format!(
            "environment variable ALICE_{}",
            error.path.join("__").to_ascii_uppercase()
        ),
        Some(meta) => match &meta.source {
            Some(source) => source.to_string(),
            None => meta.name.to_string(),
        },
        None => "configuration".to_owned(),
    };
    if key.is_empty() {
        format!("{} (from {origin})", error.kind)
    } else {
        format!("{key}: {} (from {origin})", error.kind)
    }
}

fn is_http_url(url: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .filter_map(|scheme| url.strip_prefix(scheme))
        .any(|rest| !rest.is_empty() && !rest.starts_with('/'))
}

/// Ollama accepts a Go duration ("15m", "1h30m"), a number of seconds, 0 or a negative number.
fn is_keep_alive(value: &str) -> bool {
    let value = value.trim();
    if value.parse::<i64>().is_ok() {
        return true;
    }
    let body = value.strip_prefix('-').unwrap_or(value);
    !body.is_empty()
        && body.chars().next().is_some_and(|c| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || "hms.".contains(c))
        && body.chars().last().is_some_and(|c| "hms".contains(c))
}

#[cfg(test)]
mod tests {
    // figment's Jail fixes the closures' error type to figment::Error, which is large.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]
    use super::*;
    use figment::Jail;

    fn load_err() -> String {
        Config::load(None).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid_and_match_the_spec() {
        Jail::expect_with(|_| {
            let config = Config::load(None).unwrap();
            assert_eq!(config.server.bind.to_string(), "127.0.0.1:8000");
            assert_eq!(config.chat.num_ctx, 4096);
            assert_eq!(config.backends[0].keep_alive, "15m");
            assert_eq!(config.backends[0].max_concurrent, 3);
            assert_eq!(config.deadlines.chat, Duration::from_secs(30));
            assert_eq!(config.database.busy_timeout, Duration::from_secs(30));
            Ok(())
        });
    }

    #[test]
    fn file_then_environment_override_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "alice.toml",
                "[[backends]]\nname = \"local\"\nmodel = \"llama3.2:3b\"\n[chat]\nnum_ctx = 8192\n",
            )?;
            jail.set_env("ALICE_CHAT__NUM_CTX", "3000");
            jail.set_env("ALICE_DEADLINES__CHAT", "5s");
            let config = Config::load(None).unwrap();
            assert_eq!(config.backends[0].model, "llama3.2:3b");
            assert_eq!(
                config.backends[0].url, "http://127.0.0.1:11434",
                "unset keys keep defaults"
            );
            assert_eq!(config.chat.num_ctx, 3000, "environment beats the file");
            assert_eq!(config.deadlines.chat, Duration::from_secs(5));
            Ok(())
        });
    }

    #[test]
    fn explicit_path_must_exist() {
        Jail::expect_with(|_| {
            let err = Config::load(Some(Path::new("nowhere.toml"))).unwrap_err();
            assert!(err.to_string().contains("nowhere.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_key_in_file_is_named() {
        Jail::expect_with(|jail| {
            jail.create_file("alice.toml", "[chat]\nnum_ctxx = 1\n")?;
            let err = load_err();
            assert!(err.contains("num_ctxx"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn wrong_type_from_environment_names_key_and_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("ALICE_SERVER__BIND", "not-an-address");
            let err = load_err();
            assert!(err.contains("server.bind"), "{err}");
            assert!(err.contains("ALICE_SERVER__BIND"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn test_service_variables_are_not_config_keys() {
        Jail::expect_with(|jail| {
            jail.set_env("ALICE_TEST_POSTGRES_URL", "postgres://x");
            jail.set_env("ALICE_TEST_OPENAI_PYTHON", "/venv/bin/python");
            jail.set_env("ALICE_CONFIG", "elsewhere.toml");
            assert!(Config::load(None).is_ok());
            Ok(())
        });
    }

    #[test]
    fn every_invalid_value_is_reported_with_its_key() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "alice.toml",
                "[chat]\nnum_ctx = 1024\nmax_tokens = 2048\ntemperature = 3.0\n[[backends]]\nurl = \"localhost:11434\"\nkeep_alive = \"soon\"\n",
            )?;
            let err = load_err();
            for key in [
                "chat.max_tokens",
                "chat.temperature",
                "backends[0].url",
                "backends[0].keep_alive",
            ] {
                assert!(err.contains(key), "{key} missing from: {err}");
            }
            Ok(())
        });
    }

    #[test]
    fn backends_come_from_the_environment_as_an_inline_array() {
        Jail::expect_with(|jail| {
            jail.set_env(
                "ALICE_BACKENDS",
                r#"[{name="primary", kind="ollama", url="http://10.0.0.2:11434", model="qwen3:8b"}, {name="cloud", kind="openai", url="https://api.example.com/v1", model="gpt-4o-mini", api_key_env="OPENAI_API_KEY", max_concurrent=8}]"#,
            );
            let config = Config::load(None).unwrap();
            assert_eq!(config.backends.len(), 2);
            assert_eq!(config.backends[0].model, "qwen3:8b");
            assert_eq!(
                config.backends[0].max_concurrent, 3,
                "defaults fill the rest"
            );
            assert_eq!(config.backends[1].kind, BackendKind::Openai);
            assert_eq!(config.backends[1].max_concurrent, 8);
            Ok(())
        });
    }

    #[test]
    fn backend_names_must_be_unique() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "alice.toml",
                "[[backends]]\nname = \"a\"\n[[backends]]\nname = \"a\"\n",
            )?;
            assert!(load_err().contains("backends[1].name"));
            Ok(())
        });
    }

    #[test]
    fn an_embedded_backend_needs_no_url_and_is_named_after_its_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "alice.toml",
                "[[backends]]\nname = \"local\"\nkind = \"embedded\"\nurl = \"\"\n\
                 model_path = \"/models/tiny-chat.Q4_1.gguf\"\nthreads = 1\n\
                 [[backends]]\nname = \"default-file\"\nkind = \"embedded\"\nmodel = \"smollm2\"\n",
            )?;
            let config = Config::load(None).unwrap();
            assert_eq!(config.backends[0].kind, BackendKind::Embedded);
            assert_eq!(config.backends[0].model, "tiny-chat.Q4_1");
            assert_eq!(config.backends[0].threads, Some(1));
            assert_eq!(
                config.backends[1].model, "smollm2",
                "a configured name is kept"
            );
            assert!(
                config.backends[1]
                    .embedded_model_path()
                    .ends_with("models/SmolLM2-135M-Instruct.Q4_1.gguf")
            );
            jail.create_file(
                "alice.toml",
                "[[backends]]\nkind = \"embedded\"\nmodel_path = \"\"\nthreads = 0\n",
            )?;
            let err = load_err();
            assert!(err.contains("backends[0].model_path"), "{err}");
            assert!(err.contains("backends[0].threads"), "{err}");
            assert!(!err.contains("backends[0].url"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn deadlines_follow_the_path() {
        let d = DeadlineConfig::default();
        assert_eq!(d.for_path("/api/chat"), Duration::from_secs(30));
        assert_eq!(d.for_path("/v1/chat/completions"), Duration::from_secs(30));
        assert_eq!(d.for_path("/api/brain/status"), Duration::from_secs(15));
        assert_eq!(d.for_path("/api/chatter"), Duration::from_secs(10));
        assert_eq!(d.for_path("/health"), Duration::from_secs(10));
    }

    #[test]
    fn keep_alive_forms() {
        for ok in ["15m", "1h30m", "0", "-1", "300", "2.5h"] {
            assert!(is_keep_alive(ok), "{ok}");
        }
        for bad in ["", "soon", "m", "15x", "-"] {
            assert!(!is_keep_alive(bad), "{bad}");
        }
    }
}
