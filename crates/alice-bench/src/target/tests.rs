#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

#[test]
fn endpoints_follow_the_api() {
    let url = |base, api| endpoint(base, api).unwrap().to_string();
    assert_eq!(
        url("http://127.0.0.1:8000", Api::Alice),
        "http://127.0.0.1:8000/api/chat"
    );
    assert_eq!(
        url("http://127.0.0.1:8000/", Api::Openai),
        "http://127.0.0.1:8000/v1/chat/completions"
    );
    assert_eq!(
        url("http://localhost:11434/v1", Api::Openai),
        "http://localhost:11434/v1/chat/completions"
    );
    assert_eq!(
        url("http://[::1]:9/x/v1/chat/completions", Api::Openai),
        "http://[::1]:9/x/v1/chat/completions"
    );
    assert_eq!(
        url("http://127.0.0.1:8000/api/chat", Api::Alice),
        "http://127.0.0.1:8000/api/chat"
    );
    assert!(endpoint("127.0.0.1:8000", Api::Alice).is_err());
    assert!(endpoint("ftp://127.0.0.1/", Api::Alice).is_err());
}

#[test]
fn only_loopback_targets_without_allow_remote() {
    for ok in [
        "http://127.0.0.1:8000",
        "http://127.8.9.10",
        "http://[::1]:8000",
        "http://localhost:1",
        "http://alice.localhost",
    ] {
        assert!(
            check_loopback(&Url::parse(ok).unwrap(), false).is_ok(),
            "{ok}"
        );
    }
    for remote in [
        "http://example.com",
        "http://10.0.0.5:8000",
        "http://[2001:db8::1]/",
        "http://localhost.example.com",
    ] {
        let url = Url::parse(remote).unwrap();
        let error = check_loopback(&url, false).unwrap_err().to_string();
        assert!(error.contains("--allow-remote"), "{error}");
        assert!(error.contains("load generator"), "{error}");
        assert!(check_loopback(&url, true).is_ok());
    }
}

#[test]
fn openai_needs_a_model() {
    let spec = TargetSpec {
        base: "http://127.0.0.1:1".into(),
        api: Api::Openai,
        model: None,
        user: None,
        api_key: None,
        max_tokens: None,
        stream: false,
        allow_remote: false,
    };
    let error = Target::new(spec, 4, Duration::from_secs(1))
        .unwrap_err()
        .to_string();
    assert!(error.contains("--model"), "{error}");
}

#[test]
fn bodies_carry_the_conversation() {
    let spec = TargetSpec {
        base: "http://127.0.0.1:1".into(),
        api: Api::Alice,
        model: None,
        user: Some("bench".into()),
        api_key: None,
        max_tokens: None,
        stream: true,
        allow_remote: false,
    };
    let alice = Target::new(spec.clone(), 4, Duration::from_secs(1)).unwrap();
    let first = alice.body(&History::new(Api::Alice), "Hej");
    assert_eq!(
        first,
        json!({"message": "Hej", "stream": true, "user": "bench"})
    );
    let answer = Answer {
        text: "Hej!".into(),
        conversation_id: Some("c-1".into()),
        ..Answer::default()
    };
    let next = History::new(Api::Alice).after("Hej", &answer).unwrap();
    assert_eq!(alice.body(&next, "Och?")["conversation_id"], "c-1");
    let no_id = Answer::default();
    assert_eq!(
        History::new(Api::Alice)
            .after("Hej", &no_id)
            .unwrap_err()
            .kind(),
        "bad_response"
    );

    let openai = Target::new(
        TargetSpec {
            api: Api::Openai,
            model: Some("m".into()),
            max_tokens: Some(64),
            stream: false,
            ..spec
        },
        4,
        Duration::from_secs(1),
    )
    .unwrap();
    let next = History::new(Api::Openai).after("Hej", &answer).unwrap();
    let body = openai.body(&next, "Och?");
    assert_eq!(body["model"], "m");
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Hej"},
            {"role": "assistant", "content": "Hej!"},
            {"role": "user", "content": "Och?"},
        ])
    );
}

#[test]
fn errors_are_named_and_excerpted() {
    assert_eq!(Failure::Status(503, "busy".into()).kind(), "http_503");
    assert_eq!(Failure::Timeout.kind(), "timeout");
    assert_eq!(
        error_message(r#"{"error":{"message":"model not found"}}"#),
        "model not found"
    );
    assert_eq!(error_message("plain text"), "plain text");
    let long = "x ".repeat(300);
    assert_eq!(excerpt(&long).chars().count(), 201);
}
