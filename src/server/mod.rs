//! The process around the proxy: listeners (plain or TLS, HTTP/1.1 and HTTP/2), the admin
//! listener, reloads, and graceful shutdown.
//!
//! Lifecycle: [`start`] compiles the rules, loads the keys, binds every listener and
//! returns a [`Running`] handle (the bound addresses, for tests and logs); [`Running::wait`]
//! serves until SIGTERM or SIGINT, then stops accepting and lets in-flight requests finish
//! up to `limits.shutdown_grace`.
pub mod admin;
pub mod config;
pub mod reload;
pub mod tls;

use crate::engine::token::KeyRing;
use crate::metrics::Metrics;
use crate::proxy::{Downstream, Proxy, ProxySettings};
use crate::roles::RoleResolver;
use anyhow::Context;
use arc_swap::ArcSwap;
use config::Config;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// A started server.
pub struct Running {
    pub proxy_addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    pub proxy: Arc<Proxy>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Loads the key ring the config names (file, then `VEIL_KEYS`, then a random key).
pub fn load_keys(config: &Config) -> anyhow::Result<KeyRing> {
    if let Some(path) = &config.keys {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read key file {}", path.display()))?;
        return KeyRing::parse(&text).with_context(|| format!("key file {}", path.display()));
    }
    if let Ok(text) = std::env::var("VEIL_KEYS") {
        return KeyRing::parse(&text).context("VEIL_KEYS");
    }
    tracing::warn!("no keys configured (keys: or VEIL_KEYS): using a random key; tokens will not survive a restart and replicas will disagree");
    Ok(KeyRing::ephemeral()?)
}

/// Compiles the rules, binds the listeners and starts serving.
pub async fn start(config: Config, resolver: Option<RoleResolver>) -> anyhow::Result<Running> {
    let rules = match crate::rules::load_dir(&config.rules) {
        Ok((set, warnings)) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            set
        }
        Err(diags) => anyhow::bail!("the rules do not compile:\n{diags}"),
    };
    let keys = load_keys(&config)?;
    let resolver = match resolver {
        Some(r) => r,
        None => RoleResolver::new(&config.roles.resolvers).context("roles")?,
    };
    let unknown = resolver.unknown_roles(&rules);
    if !unknown.is_empty() {
        anyhow::bail!(
            "roles config names roles the rules do not define: {}",
            unknown.join(", ")
        );
    }
    let metrics = Metrics::new();
    metrics.set_rules_version(&rules.version);
    let upstream = crate::proxy::upstream::Upstream::new(&config)?;
    let proxy = Arc::new(Proxy {
        rules: ArcSwap::from_pointee(rules),
        keys: ArcSwap::from_pointee(keys),
        upstream,
        settings: ProxySettings {
            preserve_host: config.upstream.preserve_host,
            response_timeout: config.upstream.response_timeout,
            max_request_body: config.limits.max_request_body,
            websocket_max_message: config.limits.websocket_max_message,
            reveal_path: config.reveal.path.clone(),
            reveal_per_minute: config.reveal.per_minute,
        },
        resolver,
        metrics,
        upstream_seen: AtomicBool::new(false),
        audit: Arc::new(match &config.audit.path {
            Some(p) => crate::audit::Audit::open(p)
                .with_context(|| format!("cannot open the audit log {p}"))?,
            None => crate::audit::Audit::disabled(),
        }),
        reveal_limiter: Default::default(),
    });
    let tls = match &config.tls {
        Some(t) => Some(tls::Acceptor::load(&t.cert, &t.key)?),
        None => None,
    };
    let (shutdown, shutdown_rx) = watch::channel(false);
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let proxy_addr = listener.local_addr()?;
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(accept_loop(
        listener,
        proxy.clone(),
        tls.clone(),
        config.clone(),
        shutdown_rx.clone(),
    )));
    let admin_addr = if config.admin.listen != "off" {
        let l = TcpListener::bind(&config.admin.listen)
            .await
            .with_context(|| format!("cannot listen on {} (admin)", config.admin.listen))?;
        let addr = l.local_addr()?;
        tasks.push(tokio::spawn(admin::serve(
            l,
            proxy.clone(),
            shutdown_rx.clone(),
        )));
        Some(addr)
    } else {
        None
    };
    tasks.push(tokio::spawn(reload::watch(
        proxy.clone(),
        config.clone(),
        tls,
        shutdown_rx,
    )));
    tracing::info!(%proxy_addr, admin = ?admin_addr, upstream = ?proxy.upstream, rules = %proxy.rules.load().version, "veil is serving");
    Ok(Running {
        proxy_addr,
        admin_addr,
        proxy,
        shutdown,
        tasks,
    })
}

impl Running {
    /// Serves until SIGTERM / SIGINT, then shuts down gracefully.
    pub async fn wait(self) -> anyhow::Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: draining"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: draining"),
        }
        self.stop().await;
        Ok(())
    }

    /// Stops accepting and waits for in-flight requests (up to the grace period).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    tls: Option<tls::Acceptor>,
    config: Config,
    mut shutdown: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(config.limits.max_connections));
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
            p = limit.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => break,
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
                    drop(permit);
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
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections drained"),
        _ = tokio::time::sleep(config.limits.shutdown_grace) => tracing::warn!("grace period over; closing the remaining connections"),
    }
}

/// Sets up logging as the config says.
pub fn init_logging(format: &str, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
