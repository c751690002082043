//! The accept loop: client connections served with hyper's HTTP/1.1, under the limits of
//! `[server]`.
//!
//! `axum::serve` runs hyper without a timer, so a client that sends half a request and stalls
//! holds its connection (and a task) for ever, and it accepts every connection offered. Here
//! each connection gets hyper's header-read timer (`server.header_read_timeout`), an idle
//! connection is closed after `server.keep_alive_timeout`, and at most `server.max_connections`
//! are served at once: the next one waits in the kernel's backlog until a slot frees. Handlers
//! still see the peer as `ConnectInfo<SocketAddr>`. On stop, the listener closes, each
//! connection finishes the request it is serving (a streamed answer included) and then closes.

use alice_core::config::ServerConfig;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long the loop pauses after accept() fails for want of a resource (too many open files):
/// retrying at once would only spin.
const ACCEPT_FAILURE_PAUSE: Duration = Duration::from_secs(1);

/// The `[server]` limits one connection is served under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionLimits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) max_connections: usize,
}

impl From<&ServerConfig> for ConnectionLimits {
    fn from(config: &ServerConfig) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout,
            keep_alive_timeout: config.keep_alive_timeout,
            max_connections: config.max_connections,
        }
    }
}

/// Accepts connections until `stop`, then closes the listener and waits for the connections
/// to finish what they are serving. Dropping this future (a shutdown past its grace) ends
/// every connection at once.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    loop {
        let slot = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // The client gave up before it was accepted: nothing to do.
            Err(error) if is_client_side(&error) => continue,
            Err(error) => {
                tracing::warn!(evt = "accept_failed", %error);
                tokio::time::sleep(ACCEPT_FAILURE_PAUSE).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(
            stream,
            peer,
            app.clone(),
            limits,
            stop.clone(),
            slot,
        ));
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Errors of accept() that concern only the connection being accepted.
fn is_client_side(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// Sets TCP_NODELAY on a client connection. A streamed answer goes out an event at a time, and
/// without it Nagle's algorithm holds each small write back until the previous one is
/// acknowledged: with delayed ACKs that added up to 40 ms between tokens (measured with
/// `bench/overhead.sh`, docs/benchmarks.md).
fn send_small_writes_at_once(stream: &mut TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY on a client connection");
    }
}

/// Serves one connection; its slot is given back when it closes.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    send_small_writes_at_once(&mut stream);
    let activity = Arc::new(Activity::default());
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |request: Request| {
        let in_flight = requests.begin();
        let mut request = request.map(Body::new);
        // Peer addresses reach handlers, for the control API's loopback check.
        request.extensions_mut().insert(ConnectInfo(peer));
        let answer = app.clone().oneshot(request);
        async move {
            let response = answer.await?;
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(Tracked {
                    body,
                    _in_flight: in_flight,
                })
            }))
        }
    });
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut served = pin!(http.serve_connection(TokioIo::new(stream), service));
    let mut idle = pin!(activity.idle_for(limits.keep_alive_timeout));
    let mut closing = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(error) = result {
                    // A stalled or vanished client; hyper has closed the connection.
                    tracing::debug!(evt = "connection_ended", %peer, %error);
                }
                break;
            }
            () = stop.cancelled(), if !closing => {
                closing = true;
                served.as_mut().graceful_shutdown();
            }
            () = &mut idle, if !closing => {
                closing = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
}

type Request = hyper::Request<Incoming>;

/// How many requests a connection is serving, to tell when it has been idle for long enough.
/// A request counts from its headers until its response body is done (or dropped), so a
/// streamed answer keeps its connection busy however quiet the stream is.
#[derive(Debug)]
struct Activity {
    in_flight: watch::Sender<usize>,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            in_flight: watch::Sender::new(0),
        }
    }
}

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.send_modify(|count| *count += 1);
        InFlight(self.clone())
    }

    /// Completes once no request has been in flight for `limit`.
    async fn idle_for(&self, limit: Duration) {
        let mut count = self.in_flight.subscribe();
        loop {
            if count.wait_for(|count| *count == 0).await.is_err() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(limit) => return,
                changed = count.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// One request being served; counted down when dropped.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .send_modify(|count| *count = count.saturating_sub(1));
    }
}

/// A response body that keeps its request counted as in flight until it is done.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
