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
use std::sync::Arc;
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
                crate::proxy::upstream::use_pool_of_worker(index);
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
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

async fn accept_loop(listener: TcpListener, index: usize, shared: Shared) {
    let Shared {
        proxy,
        tls,
        config,
        connections,
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
        open.inc();
        let slot = Slot {
            _permit: permit,
            open: open.clone(),
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
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.current();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        _ => return,
                    };
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
