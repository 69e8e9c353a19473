//! Bounded connections: at most so many at once, each closed when it stays silent, so neither
//! idle nor dead peers can use up the process's open files.

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, mpsc},
    time::{Instant, Sleep},
};
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::config::ConnectionLimits;

/// Open files kept for what is not a connection: the stores, the view, logs, backups.
const RESERVED_FILES: u64 = 64;
/// The HTTP/2 client preface; a TLS ClientHello is longer. A peer that has not sent this much
/// within the handshake timeout is not a client.
const OPENING_BYTES: usize = 24;
/// Refused accepts are logged at most this often, with a count of those in between.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// A failed accept (out of files, say) is retried after this, not at once in a busy loop.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Raises the soft open-file limit to the hard one, and says how many connections fit below
/// it: `configured`, or fewer when the limit is lower.
pub fn fit_to_file_limit(configured: usize) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot read or raise the open-file limit");
            return configured;
        }
    };
    let fits = usize::try_from(limit.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
    let max = configured.min(fits).max(1);
    if max < configured {
        tracing::warn!(
            open_file_limit = limit,
            configured,
            max_connections = max,
            "the open-file limit allows fewer connections than configured"
        );
    } else {
        tracing::info!(
            open_file_limit = limit,
            max_connections = max,
            "connection limit"
        );
    }
    max
}

/// How the kernel acknowledges what a connection receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// The kernel's default: an ACK may wait up to some 40 ms for a reply to ride on.
    Delayed,
    /// Every read is acknowledged at once, for clients that leave Nagle's algorithm on: such a
    /// client holds its next small write until the last one is acknowledged, so a delayed ACK
    /// costs it some 40 ms a write. KurrentDB's official Rust client does (`kurrentdb` up to
    /// 1.2.0 does not set `TCP_NODELAY`).
    Quick,
}

/// Accepts from `listener` for as long as the stream is read, at most `max` connections at
/// once; more are closed as they arrive and logged.
pub fn incoming(
    listener: TcpListener,
    limits: &ConnectionLimits,
    max: usize,
    acks: Acks,
) -> impl Stream<Item = Result<Limited, Infallible>> + use<> {
    let timeouts = Timeouts {
        handshake: Duration::from_secs(limits.handshake_timeout_seconds),
        idle: Duration::from_secs(limits.idle_timeout_seconds),
    };
    let permits = Arc::new(Semaphore::new(max));
    let (sender, receiver) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut refusals = Throttled::default();
        let mut failures = Throttled::default();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                // The server stopped accepting: release the port.
                () = sender.closed() => return,
            };
            match accepted {
                Ok((stream, peer)) => match Arc::clone(&permits).try_acquire_owned() {
                    Ok(permit) => {
                        let connection = Limited::new(stream, permit, timeouts, acks);
                        if sender.send(connection).await.is_err() {
                            return;
                        }
                    }
                    Err(_) => {
                        drop(stream);
                        refusals.note(|suppressed| {
                            tracing::warn!(
                                %peer,
                                max_connections = max,
                                refused_since_last_logged = suppressed,
                                "connection refused: too many open connections"
                            );
                        });
                    }
                },
                Err(error) => {
                    failures.note(|suppressed| {
                        tracing::warn!(
                            %error,
                            failed_since_last_logged = suppressed,
                            "cannot accept a connection"
                        );
                    });
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
            }
        }
    });
    ReceiverStream::new(receiver).map(Ok)
}

/// Logs the first of a run of events at once, then at most once per interval.
#[derive(Debug, Default)]
struct Throttled {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttled {
    fn note(&mut self, log: impl FnOnce(u64)) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < REFUSAL_LOG_INTERVAL)
        {
            self.suppressed += 1;
            return;
        }
        log(self.suppressed);
        self.last = Some(now);
        self.suppressed = 0;
    }
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    handshake: Duration,
    idle: Duration,
}

/// A connection that counts against the limit until it closes, and fails its reads once the
/// peer has been silent too long: before its opening bytes, the handshake timeout; after,
/// the idle timeout.
#[derive(Debug)]
pub struct Limited {
    stream: TcpStream,
    peer: Option<SocketAddr>,
    timeouts: Timeouts,
    acks: Acks,
    opening_left: usize,
    deadline: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl Limited {
    fn new(
        stream: TcpStream,
        permit: OwnedSemaphorePermit,
        timeouts: Timeouts,
        acks: Acks,
    ) -> Self {
        // Replies go out as written: with Nagle's algorithm a small reply waits for the
        // client's delayed ACK, some 40 ms a call.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot disable Nagle's algorithm");
        }
        Self {
            peer: stream.peer_addr().ok(),
            stream,
            timeouts,
            acks,
            opening_left: OPENING_BYTES,
            deadline: Box::pin(tokio::time::sleep(timeouts.handshake)),
            _permit: permit,
        }
    }
}

impl AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buffer.filled().len();
        match Pin::new(&mut self.stream).poll_read(context, buffer) {
            Poll::Ready(Ok(())) => {
                let read = buffer.filled().len() - before;
                if read > 0 {
                    if self.acks == Acks::Quick {
                        acknowledge_now(&self.stream);
                    }
                    self.opening_left = self.opening_left.saturating_sub(read);
                    if self.opening_left == 0 {
                        let idle = Instant::now() + self.timeouts.idle;
                        self.deadline.as_mut().reset(idle);
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if self.deadline.as_mut().poll(context).is_pending() {
                    return Poll::Pending;
                }
                let (timeout, phase) = if self.opening_left > 0 {
                    (self.timeouts.handshake, "handshake")
                } else {
                    (self.timeouts.idle, "idle")
                };
                tracing::debug!(
                    peer = self.peer.map(|peer| peer.to_string()),
                    phase,
                    timeout_seconds = timeout.as_secs(),
                    "closing a silent connection"
                );
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no bytes from the peer for {} s ({phase})",
                        timeout.as_secs()
                    ),
                )))
            }
            failed => failed,
        }
    }
}

/// Acknowledges what has been received at once. The kernel leaves quick-ACK mode again on its
/// own, so this is asked after every read.
#[cfg(target_os = "linux")]
fn acknowledge_now(stream: &TcpStream) {
    if let Err(error) = socket2::SockRef::from(stream).set_tcp_quickack(true) {
        tracing::debug!(%error, "cannot acknowledge at once");
    }
}

/// Elsewhere the kernel's delayed ACKs stay.
#[cfg(not(target_os = "linux"))]
fn acknowledge_now(_: &TcpStream) {}

impl AsyncWrite for Limited {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(context, buffer)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(context)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl Connected for Limited {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_small_replies_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("bound");
        let mut accepted = Box::pin(incoming(
            listener,
            &ConnectionLimits::default(),
            4,
            Acks::Delayed,
        ));
        let _client = TcpStream::connect(address).await.expect("connects");
        let Some(Ok(connection)) = accepted.next().await else {
            panic!("a connection is accepted");
        };
        assert!(connection.stream.nodelay().expect("reads the option"));
    }

    /// A server that replies at once to what it reads turns delayed ACKs on (the kernel's
    /// "ping-pong" mode); with quick ACKs every read is acknowledged at once nonetheless.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn quick_ack_connections_acknowledge_every_read_at_once() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("bound");
        let mut accepted = Box::pin(incoming(
            listener,
            &ConnectionLimits::default(),
            4,
            Acks::Quick,
        ));
        let mut client = TcpStream::connect(address).await.expect("connects");
        let Some(Ok(mut connection)) = accepted.next().await else {
            panic!("a connection is accepted");
        };
        let mut byte = [0_u8; 1];
        for exchange in 0..8 {
            client.write_all(b"q").await.expect("the client writes");
            connection.read_exact(&mut byte).await.expect("plgd reads");
            let quick = socket2::SockRef::from(&connection.stream)
                .tcp_quickack()
                .expect("reads the option");
            assert!(quick, "read {exchange} is acknowledged at once");
            connection.write_all(b"a").await.expect("plgd replies");
            client
                .read_exact(&mut byte)
                .await
                .expect("the client reads");
        }
    }
}
