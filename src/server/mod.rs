//! The process around the proxy: listeners (plain or TLS, HTTP/1.1 and HTTP/2), the worker
//! threads, the admin listener, reloads, and graceful shutdown.
//!
//! Lifecycle: [`start`] compiles the rules, loads the keys, binds every listener, starts
//! the workers and returns a [`Running`] handle (the bound addresses, for tests and logs);
//! [`Running::wait`] serves until SIGTERM or SIGINT, then stops accepting and lets in-flight
//! requests finish up to `limits.shutdown_grace`. The proxy's connections are served on
//! the worker threads ([`workers`]); the admin listener, reloads and signals run on the
//! runtime that called [`start`].
pub mod admin;
pub mod config;
pub mod reload;
pub mod tls;
pub mod workers;

use crate::engine::token::KeyRing;
use crate::metrics::Metrics;
use crate::proxy::{Proxy, ProxySettings};
use crate::roles::RoleResolver;
use anyhow::Context;
use arc_swap::ArcSwap;
use config::Config;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Semaphore};

/// Pending connections the kernel queues for the proxy listener (tokio's default).
const LISTEN_BACKLOG: u32 = 1024;

/// A started server.
pub struct Running {
    pub proxy_addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    pub proxy: Arc<Proxy>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

/// The quota store the config names: Redis (`quotas.redis` or `VEIL_REDIS_URL`), shared
/// by the replicas, or this process's memory.
fn quotas(config: &Config, metrics: &Metrics) -> anyhow::Result<crate::proxy::quota::Quotas> {
    let url = config.quotas.redis.clone().or_else(|| {
        std::env::var("VEIL_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
    });
    let Some(url) = url else {
        return Ok(Default::default());
    };
    let store = crate::proxy::shared::RedisStore::new(
        &url,
        config.quotas.prefix.as_deref().unwrap_or("veil"),
        config
            .quotas
            .timeout
            .unwrap_or(std::time::Duration::from_millis(250)),
    )
    .context("quotas.redis")?;
    tracing::info!("quotas are shared through Redis");
    Ok(crate::proxy::quota::Quotas::shared(
        store,
        metrics.quota_store_errors.clone(),
    ))
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
    let quotas = quotas(&config, &metrics)?;
    let worker_count = config.worker_count();
    let valid = config.validate(None).map_err(|d| anyhow::anyhow!("{d}"))?;
    let upstream = crate::upstream::Upstream::new(&valid.upstream, worker_count)?;
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
            body_idle_timeout: config.limits.upstream_body_idle_timeout,
            request_body_idle_timeout: config.limits.header_read_timeout,
        },
        resolver,
        metrics,
        upstream_seen: AtomicBool::new(false),
        audit: Arc::new(match &config.audit.path {
            Some(p) => crate::audit::Audit::open(p)
                .with_context(|| format!("cannot open the audit log {p}"))?,
            None => crate::audit::Audit::disabled(),
        }),
        quotas: Arc::new(quotas),
    });
    let tls = match &config.tls {
        Some(t) => Some(tls::Acceptor::load(&t.cert, &t.key)?),
        None => None,
    };
    let (shutdown, shutdown_rx) = watch::channel(false);
    let listener =
        bind(valid.listen).with_context(|| format!("cannot listen on {}", valid.listen))?;
    let proxy_addr = listener.local_addr()?;
    let workers = workers::spawn(
        listener,
        worker_count,
        workers::Shared {
            proxy: proxy.clone(),
            tls: tls.clone(),
            config: config.clone(),
            connections: Arc::new(Semaphore::new(config.limits.max_connections)),
            peers: Default::default(),
            shutdown: shutdown_rx.clone(),
        },
    )?;
    let mut tasks = Vec::new();
    let admin_addr = if let Some(admin) = valid.admin {
        let l = TcpListener::bind(admin)
            .await
            .with_context(|| format!("cannot listen on {admin} (admin)"))?;
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
    tracing::info!(%proxy_addr, admin = ?admin_addr, upstream = ?proxy.upstream, workers = worker_count, rules = %proxy.rules.load().version, "veil is serving");
    Ok(Running {
        proxy_addr,
        admin_addr,
        proxy,
        shutdown,
        tasks,
        workers,
    })
}

/// Binds the proxy listener, to be shared by the workers. (Not `SO_REUSEPORT`, which would
/// let a second veil on the same port quietly take half the connections.)
fn bind(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener: TcpListener = socket.listen(LISTEN_BACKLOG)?;
    Ok(listener.into_std()?)
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
        for w in self.workers {
            if let Ok(Err(_)) = tokio::task::spawn_blocking(move || w.join()).await {
                tracing::error!("a worker thread panicked");
            }
        }
        tracing::info!("stopped");
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
