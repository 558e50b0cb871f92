//! `veil mask`: mask one document with exactly the engine the proxy uses, so that a
//! security team can preview rules on a captured payload.
use super::KeyArgs;
use crate::engine::format::Format;
use anyhow::{bail, Context};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct MaskArgs {
    #[arg(long, default_value = "rules")]
    pub rules: PathBuf,
    /// The role to mask for; default: the rule set's default role.
    #[arg(long)]
    pub role: Option<String>,
    /// json, html, csv, sse or text; default: from the file extension, else json.
    #[arg(long = "content-type")]
    pub content_type: Option<String>,
    /// The request path, which selects the route (default `/`).
    #[arg(long, default_value = "/")]
    pub route: String,
    /// The request method, which also selects the route.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Mask as a WebSocket frame stream of this route.
    #[arg(long)]
    pub websocket: bool,
    /// Feed the masker in chunks of this many bytes (to preview streaming behaviour).
    #[arg(long, default_value_t = 16 * 1024)]
    pub chunk: usize,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// The document; default stdin.
    pub file: Option<PathBuf>,
}

pub fn run(args: &MaskArgs) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_rules(&args.rules, true) else {
        return Ok(ExitCode::FAILURE);
    };
    let role = match &args.role {
        None => set.default_role,
        Some(r) => match set.role(r) {
            Some(id) => id,
            None => bail!("unknown role {r:?}"),
        },
    };
    let format = match &args.content_type {
        Some(ct) => Format::from_name(ct)
            .or_else(|| Format::from_content_type(ct))
            .with_context(|| format!("unknown content type {ct:?}"))?,
        None => args
            .file
            .as_ref()
            .and_then(|f| f.extension())
            .and_then(|e| e.to_str())
            .and_then(|e| Format::from_name(if e == "txt" { "text" } else { e }))
            .unwrap_or(Format::Json),
    };
    let mut input = Vec::new();
    match &args.file {
        Some(f) => {
            input = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        }
        None => {
            std::io::stdin().read_to_end(&mut input)?;
        }
    }
    let keys = args.keys.load()?;
    let route = set.route_for(&args.method, &args.route, args.websocket);
    let plan = set.plan(route, role, &keys);
    let mut masker = format.masker(plan);
    let mut out = Vec::with_capacity(input.len());
    for chunk in input.chunks(args.chunk.max(1)) {
        masker.push(chunk, &mut out)?;
    }
    masker.finish(&mut out)?;
    std::io::stdout().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}
