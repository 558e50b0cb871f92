//! The worker threads that serve the proxy's connections.
//!
//! Thread per core, as nginx, Envoy and HAProxy do it: each worker is one thread running a
//! single-threaded tokio runtime with its own accept loop on a clone of the listening
//! socket, and its own upstream pool. A connection is accepted, served and closed on one
//! thread, and so is the pooled upstream connection its requests use. A work-stealing
//! runtime moves tasks between threads instead, and each hand-over wakes a sleeping thread
//! (a futex and an interrupt; dear in a VM): on a 2 KiB pass-through that cost more CPU
//! than the proxying itself (docs/benchmarks.md). The trade-off is the same as nginx's: a
//! long masking job delays the other connections of its thread, never of the others, and
//! one thread's connections do not move to an idle one.
//!
//! The workers share everything else (the rule set, keys, metrics, the connection limit)
//! through atomics and `ArcSwap`, so a reload reaches all of them at once.
use super::{config::Config, tls};
use crate::proxy::{Downstream, Proxy};
use anyhow::Context;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use prometheus::IntGauge;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// How long a worker waits after a failed `accept` before the next one.
const ACCEPT_ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// What every worker shares.
#[derive(Clone)]
pub struct Shared {
    pub proxy: Arc<Proxy>,
    pub tls: Option<tls::Acceptor>,
    pub config: Config,
    /// `limits.max_connections`, across all workers.
    pub connections: Arc<Semaphore>,
    /// Connections open per client address, across all workers.
    pub peers: Arc<PeerConnections>,
    pub shutdown: watch::Receiver<bool>,
}

/// Starts `count` workers accepting on `listener`. They return once shutdown is signalled
/// and their connections have drained (or the grace period is over).
pub fn spawn(
    listener: std::net::TcpListener,
    count: usize,
    shared: Shared,
) -> anyhow::Result<Vec<std::thread::JoinHandle<()>>> {
    let mut handles = Vec::with_capacity(count);
    for index in 0..count {
        let listener = listener
            .try_clone()
            .context("cannot share the listening socket with a worker")?;
        // Built here so that a failure is an error of `start`, not a dead thread.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start a worker runtime")?;
        let shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name(format!("veil-worker-{index}"))
            .spawn(move || {
                crate::upstream::use_pool_of_worker(index);
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(l) => accept_loop(l, index, shared).await,
                        Err(e) => {
                            tracing::error!(error = %e, worker = index, "worker cannot listen")
                        }
                    }
                });
            })
            .context("cannot start a worker thread")?;
        handles.push(handle);
    }
    Ok(handles)
}

/// A connection's place under `limits.max_connections` and in `veil_connections_open`,
/// given back when the connection ends (however it ends).
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: IntGauge,
    _peer: PeerSlot,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

/// Connections open per client address (an IPv4 address, an IPv6 /64): one host may not
/// take every connection (`limits.max_connections_per_peer`). Touched once per
/// connection, never per request.
#[derive(Debug, Default)]
pub struct PeerConnections {
    open: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
}

/// One connection's place in [`PeerConnections`], given back on drop.
struct PeerSlot {
    peers: Arc<PeerConnections>,
    key: IpAddr,
}

impl PeerConnections {
    /// A place for one more connection from `ip`, or `None` when it holds `max` already.
    fn admit(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let key = match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().expect("mapped")),
            v4 => v4,
        };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: self.clone(),
            key,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// A stream whose first bytes (the HTTP/2 preface's length) must arrive within a deadline:
/// over TLS, where the handshake is done but nothing can be peeked, a client that goes
/// silent before saying which protocol it speaks is cut, as a plain one is by
/// [`opening`].
struct OpeningDeadline<S> {
    inner: S,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    seen: usize,
}

impl<S> OpeningDeadline<S> {
    fn new(inner: S, limit: Duration) -> Self {
        OpeningDeadline {
            inner,
            sleep: Some(Box::pin(tokio::time::sleep(limit))),
            seen: 0,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for OpeningDeadline<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::future::Future;
        use std::task::Poll;
        let this = self.get_mut();
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.seen += buf.filled().len() - before;
                if this.seen >= PREFACE.len() {
                    this.sleep = None;
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let late = this
                    .sleep
                    .as_mut()
                    .is_some_and(|s| s.as_mut().poll(cx).is_ready());
                if late {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client said nothing in time",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for OpeningDeadline<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The HTTP/2 client preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits (up to `limit`) until a plain connection has said which protocol it speaks:
/// bytes that are not the HTTP/2 preface (HTTP/1, whose head `header_read_timeout` then
/// bounds), or the whole preface. False: silent, half a preface, or closed: drop it.
/// (Deciding between HTTP/1 and 2 has no timeout of its own in hyper.)
async fn opening(stream: &tokio::net::TcpStream, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 24];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return false,
        };
        if n == 0 {
            return false;
        }
        if n >= PREFACE.len() || buf[..n] != PREFACE[..n] {
            return true;
        }
        // A strict prefix of the preface: the rest may follow (peek returns at once).
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn accept_loop(listener: TcpListener, index: usize, shared: Shared) {
    let Shared {
        proxy,
        tls,
        config,
        connections,
        peers,
        mut shutdown,
    } = shared;
    let worker = index.to_string();
    let accepted = proxy.metrics.connections.with_label_values(&[&worker]);
    let open = proxy.metrics.connections_open.with_label_values(&[&worker]);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.limits.header_read_timeout)
        .max_buf_size(config.limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(config.limits.max_header_bytes as u32);
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors, most likely: accepting again at once would
                    // spin this thread and flood the log until one is freed.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        accepted.inc();
        let Some(peer_slot) = peers.admit(peer.ip(), config.limits.max_connections_per_peer) else {
            proxy
                .metrics
                .blocked
                .with_label_values(&["peer_connection_limit"])
                .inc();
            drop(stream);
            continue;
        };
        open.inc();
        let slot = Slot {
            _permit: permit,
            open: open.clone(),
            _peer: peer_slot,
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        let https = tls.is_some();
        let svc = service_fn(move |req| {
            let proxy = proxy.clone();
            async move {
                Ok::<_, std::convert::Infallible>(
                    proxy.handle(req, Downstream { peer, https }).await,
                )
            }
        });
        match &tls {
            None => {
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let limit = config.limits.header_read_timeout;
                tokio::spawn(async move {
                    if !opening(&stream, limit).await {
                        return;
                    }
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.current();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let config_header_timeout = config.limits.header_read_timeout;
                tokio::spawn(async move {
                    let stream =
                        match tokio::time::timeout(config_header_timeout, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(s)) => s,
                            _ => return,
                        };
                    let stream = OpeningDeadline::new(stream, config_header_timeout);
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::debug!("worker drained"),
        _ = tokio::time::sleep(config.limits.shutdown_grace) => tracing::warn!("grace period over; closing the remaining connections"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_stream_silent_past_its_opening_deadline_fails_and_a_talking_one_does_not() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut s = OpeningDeadline::new(server, Duration::from_millis(200));
        let mut buf = [0u8; 64];
        let started = tokio::time::Instant::now();
        let err = s.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2));
        // Half a preface is still silence.
        let (mut client2, server2) = tokio::io::duplex(1024);
        let mut s2 = OpeningDeadline::new(server2, Duration::from_millis(200));
        client2.write_all(b"PRI * HTTP").await.unwrap();
        assert_eq!(s2.read(&mut buf).await.unwrap(), 10);
        assert!(s2.read(&mut buf).await.is_err());
        // A whole opening lifts the deadline.
        client.write_all(&[b'x'; 30]).await.unwrap();
        let (mut client3, server3) = tokio::io::duplex(1024);
        let mut s3 = OpeningDeadline::new(server3, Duration::from_millis(100));
        client3
            .write_all(b"GET / HTTP/1.1\r\nHost: inbox\r\n\r\n")
            .await
            .unwrap();
        assert!(s3.read(&mut buf).await.unwrap() >= 24);
        tokio::time::sleep(Duration::from_millis(300)).await;
        client3.write_all(b"more").await.unwrap();
        assert_eq!(s3.read(&mut buf).await.unwrap(), 4);
    }
}
