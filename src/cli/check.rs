//! `veil check --rules DIR`: compile, report, exit 1 on any error.
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The rule folder (or one rule file).
    #[arg(long, default_value = "rules")]
    pub rules: PathBuf,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    match super::load_rules(&args.rules, false) {
        Some(set) => {
            let roles: Vec<&str> = set.roles.iter().map(|r| r.name.as_str()).collect();
            println!(
                "ok: {} files, {} detectors, {} routes, roles {} (default {}), version {}",
                set.files.len(),
                set.detectors.len(),
                set.routes.len(),
                roles.join(", "),
                set.role_policy(set.default_role).name,
                set.version
            );
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::FAILURE),
    }
}
