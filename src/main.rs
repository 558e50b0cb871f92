//! The `veil` binary: parse the command line, run a command. Everything else is in the
//! library.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = veil::cli::Cli::parse();
    match veil::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("veil: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
