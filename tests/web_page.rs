//! Alice's web page: served from the binary with a strict Content-Security-Policy, up in every
//! Guardian state, logged in with a password or an API key; and, when `ALICE_TEST_CHROMIUM`
//! names a browser (`.ci/run` installs Debian's chromium and the npm packages in tests/web),
//! the whole page end to end in headless Chromium (`tests/web/e2e.mjs`): chat, streaming,
//! stop, safety of answers, memories, export, forget me, the dashboard, axe-core at 1280 and
//! 390 px, and the screenshots in docs/screenshots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_identity::Role;
use alice_upstream_sim::Faults;
use common::child_process::run_to_end;
use common::scripted_load::ScriptedLoad;
use common::{Alice, config, create_key, set_password, start_sim};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, SET_COOKIE};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const CHROMIUM_VAR: &str = "ALICE_TEST_CHROMIUM";
/// The browser run makes a few dozen requests to a local simulator; three minutes is stuck.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(180);

async fn alice_with_guardian(
    load: &ScriptedLoad,
) -> (Alice, alice_upstream_sim::SimHandle, tempfile::TempDir) {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.guardian.enabled = true;
    settings.guardian.interval = Duration::from_millis(100);
    create_key(&settings, "lena", Role::User).await;
    set_password(&settings, "lena", "kanelbulle-2026").await;
    create_key(&settings, "olle", Role::User).await;
    set_password(&settings, "olle", "semla-2026-olle").await;
    let server = alice_server::start_with_sampler(settings, load.clone())
        .await
        .unwrap();
    let alice = Alice::around(server, &dir.path().join("admin.key"));
    (alice, sim, dir)
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_a_strict_policy() {
    let load = ScriptedLoad::with_calm_pressure(0.30, 0.10);
    let (alice, _sim, _dir) = alice_with_guardian(&load).await;
    // No key: the page is public, what it shows is not.
    let anonymous = reqwest::Client::new();
    let page = anonymous.get(alice.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert!(
        headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
    for rule in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(rule), "{rule} missing from {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"sv\">"));

    // Every file the page links, with its type; the modules it imports too.
    let files = [
        ("/assets/app.js", "text/javascript"),
        ("/assets/api.js", "text/javascript"),
        ("/assets/chat.js", "text/javascript"),
        ("/assets/dashboard.js", "text/javascript"),
        ("/assets/i18n.js", "text/javascript"),
        ("/assets/style.css", "text/css"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ];
    for (path, kind) in files {
        let response = anonymous.get(alice.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers[CONTENT_TYPE].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        assert!(headers.contains_key(CONTENT_SECURITY_POLICY), "{path}");
        // The ETag lets a browser revalidate without the body.
        let tag = headers[ETAG].clone();
        let again = anonymous
            .get(alice.url(path))
            .header(IF_NONE_MATCH, tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    let missing = anonymous
        .get(alice.url("/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let traversal = anonymous
        .get(alice.url("/assets/..%2F..%2FCargo.toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(traversal.status(), StatusCode::NOT_FOUND);

    // In EMERGENCY the page and its login still load, so the operator can look.
    load.set(0.97, 0.10);
    assert!(
        common::until(Duration::from_secs(5), || async {
            let response = alice
                .http
                .get(alice.url("/api/conversations/x"))
                .send()
                .await;
            response.is_ok_and(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
        })
        .await,
        "the Guardian did not refuse ordinary routes"
    );
    let page = anonymous.get(alice.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let script = anonymous
        .get(alice.url("/assets/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    alice.stop().await;
}

#[tokio::test]
async fn the_page_logs_in_with_an_api_key_or_a_password() {
    let load = ScriptedLoad::with_calm_pressure(0.30, 0.10);
    let (alice, _sim, _dir) = alice_with_guardian(&load).await;
    // A client without a key, sending the cookie by hand, as a browser would.
    let browser = reqwest::Client::new;
    let log_in = |body: Value| {
        let client = browser();
        let url = alice.url("/api/auth/login");
        async move { client.post(url).json(&body).send().await.unwrap() }
    };

    let by_key = log_in(json!({ "api_key": alice.admin_key })).await;
    assert_eq!(by_key.status(), StatusCode::OK);
    let cookie = session_cookie(&by_key);
    let who: Value = by_key.json().await.unwrap();
    assert_eq!(who["username"], "admin");
    assert_eq!(who["credential"], "session");
    let me: Value = browser()
        .get(alice.url("/api/auth/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");

    let by_password = log_in(json!({ "username": "lena", "password": "kanelbulle-2026" })).await;
    assert_eq!(by_password.status(), StatusCode::OK);

    let wrong_key = log_in(json!({ "api_key": "alice_nope_0000" })).await;
    assert_eq!(wrong_key.status(), StatusCode::UNAUTHORIZED);
    for body in [
        json!({ "api_key": alice.admin_key, "username": "admin", "password": "x" }),
        json!({ "username": "lena" }),
        json!({}),
    ] {
        let refused = log_in(body.clone()).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let error: Value = refused.json().await.unwrap();
        assert!(
            error["detail"].as_str().unwrap().contains("api_key"),
            "{error}"
        );
    }
    alice.stop().await;
}

fn session_cookie(response: &reqwest::Response) -> String {
    let header = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Strict"),
        "{header}"
    );
    header.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_page_end_to_end_in_headless_chromium() {
    let Some(chromium) = std::env::var_os(CHROMIUM_VAR) else {
        eprintln!(
            "skipped the_page_end_to_end_in_headless_chromium: {CHROMIUM_VAR} is not set \
             (.ci/run sets it)"
        );
        return;
    };
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web");
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "{CHROMIUM_VAR} is set but tests/web has no node_modules: run `npm ci` in tests/web"
    );
    let load = ScriptedLoad::with_calm_pressure(0.30, 0.10);
    let (alice, sim, _dir) = alice_with_guardian(&load).await;
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    let mut command = Command::new("node");
    command
        .arg(web.join("e2e.mjs"))
        .current_dir(&web)
        .env("ALICE_URL", &alice.base)
        .env("ALICE_ADMIN_KEY", &alice.admin_key)
        .env("ALICE_USER", "lena")
        .env("ALICE_USER_PASSWORD", "kanelbulle-2026")
        .env("ALICE_OTHER_USER", "olle")
        .env("ALICE_OTHER_PASSWORD", "semla-2026-olle")
        .env("ALICE_SIM_URL", sim.base_url())
        .env("ALICE_CHROMIUM", &chromium)
        .env("ALICE_WEB_SCREENSHOTS", &screenshots);
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run_to_end(
            command,
            BROWSER_TIMEOUT,
            "the browser tests (node tests/web/e2e.mjs)",
        )
    })
    .await
    .unwrap();
    alice.stop().await;
    assert!(
        status.success(),
        "the browser tests failed ({status}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("web page: ") && summary.ends_with(" checks passed"),
        "unexpected output:\n{stdout}\n{stderr}"
    );
    eprintln!("{}", stdout.trim());
}
