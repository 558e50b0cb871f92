//! The `veil` commands. Each one is a thin edge around the rule compiler and the engine.
pub mod check;
pub mod mask;
pub mod serve;
pub mod test;

use crate::engine::token::KeyRing;
use crate::rules::{Diagnostic, RuleSet};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "veil",
    version,
    about = "A streaming PII-masking reverse proxy for customer inboxes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile a rule folder and report every problem with file, line and reason.
    Check(check::CheckArgs),
    /// Mask one document (file or stdin) to stdout with the engine the proxy uses.
    Mask(mask::MaskArgs),
    /// Run the rule test cases (`*.tests.yaml`) that live beside the rules.
    Test(test::TestArgs),
    /// Run the proxy in front of an inbox.
    Serve(serve::ServeArgs),
    /// Start a demo inbox and veil in front of it (agent and admin views).
    Demo(crate::demo::DemoArgs),
    /// Print a new random key line for a key file.
    Keygen {
        /// The key id (1-8 characters of [a-z0-9]).
        #[arg(default_value = "k1")]
        id: String,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(a) => check::run(&a),
        Command::Mask(a) => mask::run(&a),
        Command::Test(a) => test::run(&a),
        Command::Serve(a) => serve::run(&a),
        Command::Demo(a) => crate::demo::run(&a),
        Command::Keygen { id } => {
            println!("{}", KeyRing::generate_line(&id)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Where token keys come from: a file, the `VEIL_KEYS` variable, or (for previews) a
/// random key that dies with the process.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// Key file: one `<id> <base64 secret>` per line, the first is active.
    #[arg(long, env = "VEIL_KEYS_FILE")]
    pub keys: Option<PathBuf>,
}

impl KeyArgs {
    pub fn load(&self) -> anyhow::Result<Arc<KeyRing>> {
        if let Some(path) = &self.keys {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read key file {}", path.display()))?;
            return Ok(Arc::new(
                KeyRing::parse(&text).with_context(|| format!("key file {}", path.display()))?,
            ));
        }
        if let Ok(text) = std::env::var("VEIL_KEYS") {
            return Ok(Arc::new(KeyRing::parse(&text).context("VEIL_KEYS")?));
        }
        eprintln!("veil: no --keys or VEIL_KEYS: using a random key; tokens will not survive this process");
        Ok(Arc::new(KeyRing::ephemeral()?))
    }
}

/// Loads rules, printing warnings; on errors prints them all and returns `None`.
pub fn load_rules(dir: &Path, quiet_warnings: bool) -> Option<RuleSet> {
    match crate::rules::load_dir(dir) {
        Ok((set, warnings)) => {
            if !quiet_warnings {
                print_diags(&warnings);
            }
            Some(set)
        }
        Err(diags) => {
            print_diags(&diags.0);
            None
        }
    }
}

fn print_diags(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{d}");
    }
}
