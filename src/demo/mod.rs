//! `veil demo`: a small inbox with its own invented contacts, and veil in front of it, in
//! one process on 127.0.0.1. Two proxy listeners show the two sides of the same inbox:
//! one serves every request as `agent` (masked), one as `admin` (clear). In production the
//! role comes from a resolver (auth proxy header, JWT, inbox probe), never from the client.
pub mod data;
pub mod inbox;

use crate::roles::RoleResolver;
use crate::server::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The agent's view (masked).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub agent_listen: String,
    /// The admin's view (clear).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub admin_listen: String,
    /// The demo inbox itself (unmasked; only for looking behind the curtain).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub inbox_listen: String,
    /// /metrics of the agent view.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub metrics_listen: String,
    /// The rules; default: the shipped packs, embedded in the binary.
    #[arg(long, default_value = "embedded")]
    pub rules: PathBuf,
    /// Seconds between live messages pushed over the WebSocket.
    #[arg(long, default_value_t = 3)]
    pub push_every: u64,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    crate::server::init_logging("pretty", "warn");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (inbox, _) = inbox::start(
            &args.inbox_listen,
            Duration::from_secs(args.push_every.max(1)),
        )
        .await?;
        // Both views share one key, so the agent's tokens mean the same on both.
        let key = crate::engine::token::KeyRing::generate_line("demo")?;
        let keys_file = std::env::temp_dir().join(format!("veil-demo-keys-{}", std::process::id()));
        std::fs::write(&keys_file, key)?;
        let view = |listen: &str, admin: &str| {
            let mut c = Config::quick(&format!("http://{inbox}"));
            c.listen = listen.to_owned();
            c.admin.listen = admin.to_owned();
            c.rules = args.rules.clone();
            c.keys = Some(keys_file.clone());
            c
        };
        let agent = crate::server::start(
            view(&args.agent_listen, &args.metrics_listen),
            Some(RoleResolver::fixed("agent")),
        )
        .await?;
        let admin = crate::server::start(
            view(&args.admin_listen, "off"),
            Some(RoleResolver::fixed("admin")),
        )
        .await?;
        println!("veil demo: an inbox with invented contacts, and veil in front of it");
        println!();
        println!("  agent view (masked):  http://{}/app/", agent.proxy_addr);
        println!("  admin view (clear):   http://{}/app/", admin.proxy_addr);
        if let Some(m) = agent.admin_addr {
            println!("  metrics:              http://{m}/metrics");
        }
        println!("  the inbox itself:     http://{inbox}/app/  (what veil protects)");
        println!();
        println!("Ctrl-C to stop.");
        let r = tokio::select! {
            r = agent.wait() => r,
            r = admin.wait() => r,
        };
        let _ = std::fs::remove_file(&keys_file);
        r
    })?;
    Ok(ExitCode::SUCCESS)
}
