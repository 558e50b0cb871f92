//! The `veil` binary: parse the command line, run a command. Everything else is in the
//! library.
use clap::Parser;

/// mimalloc: a proxy allocates and frees many small buffers per request (hyper's, the
/// maskers'), which glibc's allocator serves slower (benches/load.sh, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
