#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A date and the same instant as a `SystemTime`, for the HTTP-date forms.
const DATE: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
const DATE_UNIX_SECONDS: u64 = 1_445_412_480;

fn at_date_minus(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(DATE_UNIX_SECONDS - seconds)
}

#[test]
fn retry_after_takes_whole_and_fractional_seconds() {
    let now = SystemTime::now();
    assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
    assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
    assert_eq!(
        parse_retry_after("1.5", now),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(
        parse_retry_after("0.25", now),
        Some(Duration::from_millis(250))
    );
    assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
}

#[test]
fn retry_after_takes_http_dates_in_all_three_forms() {
    let now = at_date_minus(30);
    assert_eq!(parse_retry_after(DATE, now), Some(Duration::from_secs(30)));
    assert_eq!(
        parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now),
        Some(Duration::from_secs(30)),
        "RFC 850"
    );
    assert_eq!(
        parse_retry_after("Wed Oct 21 07:28:00 2015", now),
        Some(Duration::from_secs(30)),
        "asctime"
    );
}

#[test]
fn a_past_date_asks_for_no_pause() {
    let later = SystemTime::UNIX_EPOCH + Duration::from_secs(DATE_UNIX_SECONDS + 60);
    assert_eq!(parse_retry_after(DATE, later), Some(Duration::ZERO));
}

#[test]
fn nonsense_retry_after_is_ignored() {
    let now = SystemTime::now();
    for value in [
        "-1",
        "NaN",
        "inf",
        "soon",
        "",
        "1e400",
        "Wed, 32 Oct 2015 07:28:00 GMT",
    ] {
        assert_eq!(parse_retry_after(value, now), None, "{value:?}");
    }
}

#[test]
fn the_header_is_read_from_a_header_map() {
    let mut headers = HeaderMap::new();
    assert_eq!(retry_after(&headers, SystemTime::now()), None);
    headers.insert(RETRY_AFTER, "2.5".parse().unwrap());
    assert_eq!(
        retry_after(&headers, SystemTime::now()),
        Some(Duration::from_millis(2500))
    );
}

#[test]
fn statuses_become_kinds() {
    let secs = Some(Duration::from_secs(2));
    assert_eq!(status_kind(404, None), ErrorKind::ModelNotFound);
    assert_eq!(
        status_kind(429, secs),
        ErrorKind::Busy {
            retry_after: secs,
            queue: None
        }
    );
    assert_eq!(
        status_kind(503, None),
        ErrorKind::Busy {
            retry_after: None,
            queue: None
        }
    );
    assert_eq!(status_kind(401, None), ErrorKind::Rejected { status: 401 });
    assert_eq!(status_kind(500, None), ErrorKind::Failed { status: 500 });
    assert_eq!(status_kind(502, secs), ErrorKind::Failed { status: 502 });
}

/// A server on loopback that answers one request with `response` and then holds the
/// connection open. Given a `Content-Length` longer than what it sends, a reader that wants the
/// whole body waits forever.
async fn serve_once(response: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await.unwrap();
        let _ = socket.write_all(&response).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    format!("http://{address}/")
}

/// A 503 promising 100 MiB of body and sending 512 KiB of it.
fn huge_503() -> Vec<u8> {
    let mut response = HUGE_503_HEAD.as_bytes().to_vec();
    response.extend(std::iter::repeat_n(b'x', 512 * 1024));
    response
}

const HUGE_503_HEAD: &str = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\n\
                        content-length: 104857600\r\nretry-after: 1.5\r\n\r\n";

#[tokio::test]
async fn the_body_limit_stops_reading_a_large_body() {
    let url = serve_once(huge_503()).await;
    let response = reqwest::get(url).await.unwrap();
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        read_body_prefix(response, 64 * 1024),
    )
    .await
    .expect("reading stopped at the limit instead of waiting for the whole body")
    .unwrap();
    assert_eq!(read.len(), 64 * 1024);
}

#[tokio::test]
async fn a_body_shorter_than_the_limit_is_read_whole() {
    let url = serve_once(
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5\r\n\r\noops!".to_vec(),
    )
    .await;
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(read_body_prefix(response, 64).await.unwrap(), b"oops!");
}

/// A backend that records how much of the body it was given.
struct Stub {
    seen: std::sync::Mutex<Option<usize>>,
}

impl Remote for Stub {
    fn error(&self, kind: ErrorKind, detail: String) -> LlmError {
        LlmError {
            backend: "stub".into(),
            url: "http://stub".into(),
            kind,
            detail,
            advice: "stub advice".into(),
        }
    }

    fn error_text(&self, body: &[u8]) -> ErrorText {
        *self.seen.lock().unwrap() = Some(body.len());
        ErrorText {
            message: "a proxy page".into(),
            code: None,
        }
    }

    fn error_body_limit(&self) -> usize {
        STUB_BODY_LIMIT
    }
}

/// The stub's `max_error_body_bytes`: not the default, so the test shows the setting is read.
const STUB_BODY_LIMIT: usize = 10_000;

#[tokio::test]
async fn a_refused_status_becomes_the_backends_error_with_its_retry_after() {
    let url = serve_once(huge_503()).await;
    let stub = Stub {
        seen: std::sync::Mutex::new(None),
    };
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        send(&stub, reqwest::Client::new().get(url)),
    )
    .await
    .expect("the refusal is read without the whole body")
    .unwrap_err();
    assert_eq!(
        error.kind,
        ErrorKind::Busy {
            retry_after: Some(Duration::from_millis(1500)),
            queue: None,
        }
    );
    assert_eq!(error.detail, "HTTP 503: a proxy page");
    assert_eq!(error.advice, "stub advice");
    assert_eq!(*stub.seen.lock().unwrap(), Some(STUB_BODY_LIMIT));
}

#[tokio::test]
async fn no_connection_is_unreachable() {
    // Bind and drop: nothing listens on the port afterwards.
    let address = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let stub = Stub {
        seen: std::sync::Mutex::new(None),
    };
    let error = send(
        &stub,
        reqwest::Client::new().get(format!("http://{address}/")),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unreachable);
    assert!(error.detail.contains("refused"), "{}", error.detail);
}
