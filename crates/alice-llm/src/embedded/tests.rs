#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

#[test]
fn one_engine_has_max_concurrent_sequences_and_the_cores_as_threads() {
    assert_eq!(slots_and_threads(2, 4, None), (4, 2));
    assert_eq!(slots_and_threads(8, 1, None), (1, 8));
    assert_eq!(
        slots_and_threads(2, 0, None),
        (1, 2),
        "at least one sequence"
    );
    assert_eq!(
        slots_and_threads(2, 1000, Some(1)),
        (MAX_SLOTS, 1),
        "at most MAX_SLOTS sequences; configured threads are kept"
    );
}

#[tokio::test]
async fn a_missing_model_file_says_how_to_get_one() {
    let config = BackendConfig {
        model_path: Some("/nonexistent/model.gguf".into()),
        ..BackendConfig::embedded(None)
    };
    let client = EmbeddedClient::new(&config).unwrap();
    assert_eq!(client.url(), "embedded:/nonexistent/model.gguf");
    let health = client.probe().await;
    assert!(!health.model_available);
    assert!(health.error.unwrap().contains("scripts/fetch-model.sh"));
    let request = ChatRequest {
        messages: vec![ChatMessage::new(alice_core::Role::User, "Hej")],
        max_tokens: 4,
        temperature: 0.0,
        num_ctx: 512,
        stop: Vec::new(),
        deadline: None,
        stream_deadline: None,
        model: None,
        client: None,
        priority: alice_core::Priority::Interactive,
        backend: None,
        tools: Vec::new(),
        tool_choice: None,
    };
    let error = client.chat_stream(request).await.err().unwrap();
    assert_eq!(error.kind, ErrorKind::ModelNotFound);
    assert!(error.to_string().contains("fetch-model.sh"), "{error}");
}

#[tokio::test]
async fn a_file_that_is_not_a_model_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("alice-embedded-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("not-a-model.gguf");
    std::fs::write(&path, b"this is not a GGUF file").unwrap();
    let client = EmbeddedClient::new(&BackendConfig::embedded(Some(path.clone()))).unwrap();
    assert_eq!(client.model(), "not-a-model");
    let error = client.warm_up().await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::ModelNotFound);
    assert!(error.detail.contains("cannot load"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}
