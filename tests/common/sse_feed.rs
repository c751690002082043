//! An open Server-Sent Events stream of Alice's (`/api/events`), read an event at a time.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// One event as it came over the wire.
#[derive(Debug)]
pub struct Received {
    pub event: String,
    pub id: Option<String>,
    pub retry: Option<u64>,
    pub data: Value,
}

pub struct Feed {
    body: BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: Vec<u8>,
    /// The last `retry:` seen, in a comment or an event.
    pub retry: Option<u64>,
}

impl Feed {
    /// Opens the stream at `url`; it must answer 200 with `text/event-stream`.
    pub async fn open(http: &reqwest::Client, url: &str) -> Feed {
        let response = http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        Feed {
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map(|bytes| bytes.to_vec()))
                .boxed(),
            buffer: Vec::new(),
            retry: None,
        }
    }

    /// The next event (comments skipped) within `limit`; None when the stream ended. Panics
    /// when none came in time.
    pub async fn next(&mut self, limit: Duration) -> Option<Received> {
        match self.read(limit).await {
            Next::Event(event) => Some(event),
            Next::Ended => None,
            Next::Quiet => panic!("no event within {limit:?}"),
        }
    }

    /// The next event if one comes within `limit`; None when none did. Panics when the stream
    /// ended.
    pub async fn next_within(&mut self, limit: Duration) -> Option<Received> {
        match self.read(limit).await {
            Next::Event(event) => Some(event),
            Next::Ended => panic!("the stream ended"),
            Next::Quiet => None,
        }
    }

    /// Events until one satisfies `check`, for at most `limit`; returns its data.
    pub async fn until(&mut self, limit: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            let Some(event) = self.next(deadline - Instant::now()).await else {
                break;
            };
            if check(&event.data) {
                return event.data;
            }
            last = event.data;
        }
        panic!("no event matched within {limit:?}; the last: {last:#}");
    }

    async fn read(&mut self, limit: Duration) -> Next {
        let deadline = Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8(block).unwrap();
                let mut received = Received {
                    event: String::new(),
                    id: None,
                    retry: None,
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        received.event = name.trim().to_owned();
                    } else if let Some(chunk) = line.strip_prefix("data:") {
                        data.push_str(chunk.trim_start());
                    } else if let Some(id) = line.strip_prefix("id:") {
                        received.id = Some(id.trim().to_owned());
                    } else if let Some(retry) = line.strip_prefix("retry:") {
                        received.retry = Some(retry.trim().parse().unwrap());
                        self.retry = received.retry;
                    }
                }
                if received.event.is_empty() && data.is_empty() {
                    continue; // a comment: keep-alive, or the first one with `retry:`
                }
                received.data = serde_json::from_str(&data).unwrap();
                return Next::Event(received);
            }
            let Ok(chunk) = tokio::time::timeout_at(deadline, self.body.next()).await else {
                return Next::Quiet;
            };
            match chunk {
                Some(Ok(bytes)) => self.buffer.extend_from_slice(&bytes),
                Some(Err(error)) => panic!("the stream broke: {error}"),
                None => return Next::Ended,
            }
        }
    }
}

enum Next {
    Event(Received),
    Ended,
    Quiet,
}
