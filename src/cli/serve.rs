//! `veil serve`: run the proxy, from a config file, flags, or both (flags win).
use crate::server::config::{Config, ResolverConfig};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The config file (veil.yaml). Without it, --upstream is required.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The inbox server to protect (http://host:port or https://host:port).
    #[arg(long)]
    pub upstream: Option<String>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<String>,
    /// The rule folder, or `embedded` for the shipped packs.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Admin listener (/metrics, /healthz, /readyz), or `off`.
    #[arg(long)]
    pub admin_listen: Option<String>,
    /// The key file.
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// A role header set by an auth proxy in front (the trusted_header resolver)...
    #[arg(long, requires = "trusted_peers")]
    pub role_header: Option<String>,
    /// ...honoured only from these peers (comma-separated addresses or CIDRs).
    #[arg(long, value_delimiter = ',')]
    pub trusted_peers: Vec<String>,
    /// Worker threads (0: one per CPU).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Log format: pretty or json.
    #[arg(long)]
    pub log_format: Option<String>,
}

impl ServeArgs {
    /// The config file (if any) with the flags applied, validated.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut cfg = match &self.config {
            Some(path) => Config::load(path).map_err(|d| anyhow::anyhow!("{d}"))?,
            None => {
                let upstream = self
                    .upstream
                    .as_deref()
                    .context("give --config FILE or --upstream URL")?;
                Config::quick(upstream)
            }
        };
        if let Some(u) = &self.upstream {
            cfg.upstream.url = u.clone();
        }
        if let Some(l) = &self.listen {
            cfg.listen = l.clone();
        }
        if let Some(r) = &self.rules {
            cfg.rules = r.clone();
        }
        if let Some(a) = &self.admin_listen {
            cfg.admin.listen = a.clone();
        }
        if let Some(k) = &self.keys {
            cfg.keys = Some(k.clone());
        }
        if let Some(w) = self.workers {
            cfg.workers = w;
        }
        if let Some(f) = &self.log_format {
            cfg.log.format = f.clone();
        }
        if let Some(h) = &self.role_header {
            cfg.roles.resolvers.insert(
                0,
                ResolverConfig::TrustedHeader {
                    header: h.clone(),
                    trusted_peers: self
                        .trusted_peers
                        .iter()
                        .map(|p| {
                            p.parse()
                                .map_err(|e: String| anyhow::anyhow!("--trusted-peers: {e}"))
                        })
                        .collect::<anyhow::Result<_>>()?,
                    map: Default::default(),
                    user_header: None,
                },
            );
        }
        if self.config.is_none() && self.rules.is_none() && !cfg.rules.exists() {
            cfg.rules = crate::rules::embedded::EMBEDDED.into();
        }
        cfg.validate(None).map_err(|d| anyhow::anyhow!("{d}"))?;
        Ok(cfg)
    }
}

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.config()?;
    crate::server::init_logging(&cfg.log.format, &cfg.log.level);
    // The proxy's connections run on the worker threads `start` spawns; this runtime only
    // runs the admin listener, reloads and signal handling.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let running = crate::server::start(cfg, None).await?;
        // One line on stdout that tools (and tests) can read.
        println!(
            "veil listening on {} (admin {})",
            running.proxy_addr,
            running.admin_addr.map_or("off".into(), |a| a.to_string())
        );
        running.wait().await
    })?;
    Ok(ExitCode::SUCCESS)
}
