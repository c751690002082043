#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use alice_core::BackendKind;

/// A client of a backend that is never reached.
pub(super) fn client() -> OpenAiClient {
    OpenAiClient::new(&BackendConfig {
        name: "cloud".into(),
        kind: BackendKind::Openai,
        url: "http://127.0.0.1:9/v1/".into(),
        model: "gpt-4o-mini".into(),
        ..BackendConfig::default()
    })
    .unwrap()
}

#[test]
fn the_base_url_loses_its_trailing_slash() {
    assert_eq!(client().url(), "http://127.0.0.1:9/v1");
}

#[test]
fn statuses_and_codes_become_kinds() {
    let secs = Some(Duration::from_secs(2));
    assert_eq!(status_kind(404, None, None), ErrorKind::ModelNotFound);
    assert_eq!(
        status_kind(400, Some("model_not_found"), None),
        ErrorKind::ModelNotFound
    );
    assert_eq!(
        status_kind(429, None, secs),
        ErrorKind::Busy {
            retry_after: secs,
            queue: None
        }
    );
    assert_eq!(
        status_kind(503, None, None),
        ErrorKind::Busy {
            retry_after: None,
            queue: None
        }
    );
    assert_eq!(
        status_kind(401, None, None),
        ErrorKind::Rejected { status: 401 }
    );
    assert_eq!(
        status_kind(422, None, None),
        ErrorKind::Rejected { status: 422 }
    );
    assert_eq!(
        status_kind(502, None, None),
        ErrorKind::Failed { status: 502 }
    );
}

#[test]
fn key_advice_says_which_variable() {
    let mut client = client();
    assert!(client.key_advice().contains("backends[].api_key_env"));
    client.api_key_env = Some("CLOUD_KEY".into());
    assert!(client.key_advice().contains("CLOUD_KEY"));
    assert!(client.key_advice().contains("not set"));
    client.has_key = true;
    assert!(client.key_advice().contains("refused"));
}
