//! Tests of the configuration as a whole: defaults, the file and the environment in their
//! order of precedence, and how problems are reported with their keys.

// figment's Jail fixes the closures' error type to figment::Error, which is large.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]
use super::*;
use figment::Jail;
use std::path::Path;
use std::time::Duration;

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
fn the_last_resort_is_on_by_default_and_set_in_its_own_table_or_the_environment() {
    Jail::expect_with(|jail| {
        let config = Config::load(None).unwrap();
        assert!(config.last_resort.enabled);
        assert_eq!(
            config.last_resort.backend().embedded_model_path(),
            BackendConfig::embedded(None).embedded_model_path(),
            "where `alice model fetch` puts the model"
        );
        jail.create_file(
            "alice.toml",
            "[last_resort]\nmodel_path = \"/m/tiny.gguf\"\nmax_concurrent = 1\n",
        )?;
        jail.set_env("ALICE_LAST_RESORT__ENABLED", "false");
        let config = Config::load(None).unwrap();
        assert!(!config.last_resort.enabled, "the operator turned it off");
        assert_eq!(config.last_resort.backend().model, "tiny");
        assert_eq!(config.last_resort.max_concurrent, Some(1));
        jail.create_file("alice.toml", "[last_resort]\nthreads = 0\n")?;
        assert!(load_err().contains("last_resort.threads"));
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
fn auth_off_is_refused_unless_only_this_machine_can_reach_the_port() {
    Jail::expect_with(|jail| {
        jail.set_env("ALICE_AUTH__MODE", "off");
        assert_eq!(Config::load(None).unwrap().auth.mode, AuthMode::Off);
        jail.set_env("ALICE_SERVER__BIND", "0.0.0.0:8000");
        let error = load_err();
        assert!(error.contains("auth.mode"), "{error}");
        assert!(error.contains("loopback"), "{error}");
        Ok(())
    });
}

#[test]
fn auth_settings_come_from_the_file_with_their_keys_checked() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "alice.toml",
            "[auth]\nkey_cache_ttl = \"1h\"\nmetrics_token = \"short\"\n\
             [auth.limits.user]\nrequests_per_minute = 5\n\
             [server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
        )?;
        let error = load_err();
        assert!(error.contains("auth.key_cache_ttl"), "{error}");
        assert!(error.contains("auth.metrics_token"), "{error}");
        jail.create_file(
            "alice.toml",
            "[auth.limits.user]\nrequests_per_minute = 5\n\
             [server]\ntrusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n",
        )?;
        jail.set_env("ALICE_BENCH_API_KEY", "not a setting of the server");
        let config = Config::load(None).unwrap();
        assert_eq!(config.auth.limits.user.requests_per_minute, 5);
        assert_eq!(
            config.auth.limits.user.max_in_flight, 4,
            "the rest keep their defaults"
        );
        assert_eq!(config.auth.limits.admin, Limits::UNLIMITED);
        assert_eq!(config.server.trusted_proxies.len(), 2);
        Ok(())
    });
}

#[test]
fn experiments_come_from_the_file_with_defaults_filled_in() {
    Jail::expect_with(|jail| {
        assert!(Config::load(None).unwrap().experiments.is_empty());
        jail.create_file(
            "alice.toml",
            "[[backends]]\nname = \"local\"\n[[backends]]\nname = \"cloud\"\n\
             [[experiments]]\nname = \"fast-model\"\nroutes = \"native\"\n\
             start = 2025-03-01T08:00:00Z\nstop = \"2025-04-01T08:00:00+02:00\"\n\
             control = \"control\"\n[experiments.guard]\nerror_margin = 0.05\n\
             [[experiments.variants]]\nname = \"control\"\n\
             [[experiments.variants]]\nname = \"small\"\nweight = 3\nbackend = \"cloud\"\n\
             model = \"llama3.2:3b\"\nbrownout = \"LIGHT\"\nsystem_prompt = \"Svara kort.\"\n",
        )?;
        let config = Config::load(None).unwrap();
        let e = &config.experiments[0];
        assert_eq!(e.name, "fast-model");
        assert_eq!(e.routes, ExperimentRoutes::Native);
        assert_eq!(e.start.unwrap().to_rfc3339(), "2025-03-01T08:00:00+00:00");
        assert_eq!(e.stop.unwrap().to_rfc3339(), "2025-04-01T06:00:00+00:00");
        assert_eq!(e.guard.error_margin, 0.05);
        assert_eq!(e.guard.min_requests, 50, "the guard's other default");
        assert_eq!(e.variants[0].weight, 1.0);
        assert_eq!(e.variants[1].weight, 3.0);
        assert_eq!(e.variants[1].backend.as_deref(), Some("cloud"));
        assert_eq!(e.variants[1].brownout, Some(crate::BrownoutLevel::Light));
        Ok(())
    });
}

#[test]
fn experiments_come_from_the_environment_as_an_inline_array() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "ALICE_EXPERIMENTS",
            r#"[{name="e", start="2025-03-01T08:00:00Z", variants=[{name="a"}, {name="b", weight=2, model="m"}]}]"#,
        );
        let config = Config::load(None).unwrap();
        assert_eq!(config.experiments[0].routes, ExperimentRoutes::Both);
        assert_eq!(config.experiments[0].variants[1].weight, 2.0);
        assert!(config.experiments[0].start.is_some());
        Ok(())
    });
}

#[test]
fn experiment_problems_are_named_by_their_keys() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "alice.toml",
            "[[experiments]]\nname = \"e\"\n[[experiments.variants]]\nname = \"a\"\n\
             backend = \"nowhere\"\n[[experiments.variants]]\nname = \"b\"\nweight = -1\n",
        )?;
        let err = load_err();
        assert!(err.contains("experiments[0].variants[0].backend"), "{err}");
        assert!(err.contains("experiments[0].variants[1].weight"), "{err}");
        jail.create_file(
            "alice.toml",
            "[[experiments]]\nname = \"e\"\nstart = \"tomorrow\"\nvariants = []\n",
        )?;
        let err = load_err();
        assert!(err.contains("experiments.0.start"), "{err}");
        jail.create_file(
            "alice.toml",
            "[[experiments]]\nname = \"e\"\ncolour = \"red\"\nvariants = []\n",
        )?;
        assert!(load_err().contains("colour"));
        Ok(())
    });
}

#[test]
fn the_example_webhook_loads_as_documented() {
    // alice.example.toml shows a webhook commented out (none by default): uncommented, it
    // must load, with the documented timeout.
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../alice.example.toml"
    ))
    .unwrap();
    let block = example
        .split_once("# [[tools.webhooks]]")
        .and_then(|(_, rest)| rest.split_once("# [[tools.mcp]]"))
        .map(|(block, _)| format!("# [[tools.webhooks]]{block}"))
        .unwrap();
    let toml: String = block
        .lines()
        .map(|line| line.trim_start_matches("# "))
        .filter(|line| line.starts_with('[') || line.contains(" = "))
        .map(|line| format!("{line}\n"))
        .collect();
    Jail::expect_with(|jail| {
        jail.create_file("alice.toml", &toml)?;
        let config = Config::load(None).unwrap();
        let hook = &config.tools.webhooks[0];
        assert_eq!(hook.integration.as_deref(), Some("weather"), "{toml}");
        assert_eq!(hook.timeout, WebhookConfig::default().timeout);
        Ok(())
    });
}

#[test]
fn the_example_mcp_server_loads_as_documented() {
    // alice.example.toml shows an MCP server commented out (none by default), with both a url
    // and a command: uncommented with one of them, it must load with the documented defaults.
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../alice.example.toml"
    ))
    .unwrap();
    let block = example
        .split_once("# [[tools.mcp]]")
        .and_then(|(_, rest)| rest.split_once("\n[log]"))
        .map(|(block, _)| format!("# [[tools.mcp]]{block}"))
        .unwrap();
    let setting_lines: Vec<&str> = block
        .lines()
        .map(|line| line.trim_start_matches("# "))
        .filter(|line| line.starts_with('[') || line.contains(" = "))
        .collect();
    // The lines of the block but those of the other transport.
    let without = |other: &[&str]| -> String {
        setting_lines
            .iter()
            .filter(|line| !other.iter().any(|key| line.starts_with(key)))
            .map(|line| format!("{line}\n"))
            .collect()
    };
    for (toml, transport) in [
        (without(&["url "]), "stdio"),
        (without(&["command ", "args "]), "http"),
    ] {
        Jail::expect_with(|jail| {
            jail.create_file("alice.toml", &toml)?;
            let config = Config::load(None).unwrap();
            let source = &config.tools.mcp[0];
            let defaults = McpConfig::default();
            assert_eq!(source.name, "filer", "{toml}");
            assert_eq!(source.brownout_class, defaults.brownout_class);
            assert_eq!(source.timeout, defaults.timeout);
            assert_eq!(source.connect_timeout, defaults.connect_timeout);
            match transport {
                "stdio" => {
                    assert_eq!(source.command.as_deref(), Some("mcp-server-filesystem"));
                    assert_eq!(source.args, ["/srv/delat"]);
                }
                _ => assert_eq!(source.url.as_deref(), Some("http://127.0.0.1:8931/mcp")),
            }
            Ok(())
        });
    }
}

#[test]
fn mcp_servers_are_checked_with_their_keys() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "alice.toml",
            r#"
[[tools.webhooks]]
name = "vader"
url = "http://127.0.0.1:9000/weather"

[[tools.mcp]]
name = "vader"
url = "ftp://127.0.0.1/mcp"

[[tools.mcp]]
name = "filer.lokala"
url = "http://127.0.0.1:8931/mcp"
command = "mcp-server-filesystem"

[[tools.mcp]]
name = "tom"
brownout_class = "music"
timeout = "0s"
connect_timeout = "10m"

[[tools.mcp]]
name = "webb"
url = "http://127.0.0.1:8931/mcp"
args = ["--verbose"]
"#,
        )?;
        let error = load_err();
        for problem in [
            "tools.mcp[0].name: is taken by a webhook or another MCP server",
            "tools.mcp[0].url: must be an http:// or https:// URL",
            "tools.mcp[1].name: must be 1 to 32 letters, digits, '_' or '-'",
            "tools.mcp[1]: set url (Streamable HTTP) or command (stdio), not both",
            "tools.mcp[2]: set url (Streamable HTTP) or command (stdio)",
            "tools.mcp[2].brownout_class: must be one of",
            "tools.mcp[2].timeout: must be between 10ms and 120s",
            "tools.mcp[2].connect_timeout: must be between 10ms and 120s",
            "tools.mcp[3].args: is for a command; a url takes none",
        ] {
            assert!(error.contains(problem), "{problem} not in {error}");
        }
        Ok(())
    });
}

#[test]
fn the_example_experiment_loads_as_documented() {
    // alice.example.toml shows an experiment commented out (no experiment runs by default):
    // its setting lines, uncommented, must load and be the documented defaults.
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../alice.example.toml"
    ))
    .unwrap();
    let block = example
        .split_once("# [[experiments]]")
        .map(|(_, rest)| format!("# [[experiments]]{rest}"))
        .unwrap();
    let setting = |line: &&str| {
        let line = line.trim_start_matches("# ");
        line.starts_with('[')
            || line
                .split_once(" = ")
                .is_some_and(|(key, _)| key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    };
    let toml: String = block
        .lines()
        .filter(setting)
        .map(|line| format!("{}\n", line.trim_start_matches("# ")))
        .collect();
    Jail::expect_with(|jail| {
        jail.create_file("alice.toml", &toml)?;
        let config = Config::load(None).unwrap();
        let e = &config.experiments[0];
        assert_eq!(e.variants.len(), 2, "{toml}");
        assert_eq!(e.guard, ExperimentGuard::default());
        assert_eq!(e.routes, ExperimentRoutes::default());
        assert_eq!(e.variants[0].weight, 1.0);
        assert!(e.variants[1].system_prompt.is_some());
        Ok(())
    });
}
