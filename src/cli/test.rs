//! `veil test --rules DIR`: run the rule test cases that live beside the rules.
//!
//! A test suite is a `*.tests.yaml` file:
//!
//! ```yaml
//! cases:
//!   - name: agents see contact phones as tokens
//!     input: data/contact.json        # relative to this file; or input_text: "…"
//!     content_type: json              # json | html | csv | sse | text (default: from extension)
//!     role: agent                     # default: the rule set's default role
//!     path: /api/v1/accounts/1/contacts/102   # selects the route (default /)
//!     method: GET
//!     must_not_contain: ["+4915123456789"]
//!     must_contain: ["Hamburg"]
//!     expect: data/contact.agent.json # optional: the exact output
//!     error: false                    # true: the masker must refuse the input
//!   - name: a contact search turns the token back, a reply keeps it
//!     role: agent
//!     request:                        # the request side: what would go upstream
//!       method: POST
//!       path: /api/v1/accounts/1/contacts/search?q={token:phone:+5541987651234}
//!       content_type: application/json
//!       body: '{"content":"{token:phone:+5541987651234}"}'
//!     must_contain: ["q=%2B5541987651234"]      # checked against `METHOD path\n\nbody`
//!     must_not_contain: ["\"content\":\"+55"]
//! ```
//!
//! `{token:KIND:VALUE}` in a request stands for the token of VALUE (normalized as veil
//! does: E.164 phones, lowercase e-mails) under the test key.
//!
//! Tokens and hashes in expected outputs are made with a fixed, public test key
//! ([`TEST_KEYS`]), so expected files are reproducible. Never use it in production.
use crate::engine::format::Format;
use crate::engine::token::KeyRing;
use crate::rules::compile::test_files;
use crate::rules::RuleSet;
use anyhow::Context;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The public key `veil test` tokenizes with. For tests only.
pub const TEST_KEYS: &str = "test AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    #[arg(long, default_value = "rules")]
    pub rules: PathBuf,
    /// Only cases whose name contains this.
    #[arg(long)]
    pub filter: Option<String>,
    /// Write the actual output of cases that have an `expect` file to that file.
    #[arg(long)]
    pub bless: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Suite {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    input: Option<String>,
    input_text: Option<String>,
    content_type: Option<String>,
    role: Option<String>,
    #[serde(default = "default_path")]
    path: String,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default)]
    websocket: bool,
    #[serde(default)]
    must_contain: Vec<String>,
    #[serde(default)]
    must_not_contain: Vec<String>,
    expect: Option<String>,
    #[serde(default)]
    error: bool,
    /// A request-side case: the request whose tokens turn back (or not).
    request: Option<RequestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestCase {
    #[serde(default = "default_method")]
    method: String,
    /// Path and query.
    path: String,
    content_type: Option<String>,
    #[serde(default)]
    body: String,
}

fn default_path() -> String {
    "/".into()
}

fn default_method() -> String {
    "GET".into()
}

/// The outcome of one case.
#[derive(Debug)]
pub struct CaseResult {
    pub file: PathBuf,
    pub name: String,
    pub failures: Vec<String>,
}

pub fn run(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let Some(set) = super::load_rules(&args.rules, true) else {
        return Ok(ExitCode::FAILURE);
    };
    let results = run_suites(&set, &args.rules, args.filter.as_deref(), args.bless)?;
    let mut failed = 0;
    for r in &results {
        if r.failures.is_empty() {
            println!("ok    {} :: {}", r.file.display(), r.name);
        } else {
            failed += 1;
            println!("FAIL  {} :: {}", r.file.display(), r.name);
            for f in &r.failures {
                println!("      {f}");
            }
        }
    }
    println!("{} passed, {} failed", results.len() - failed, failed);
    Ok(if failed == 0 && !results.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs every suite under `dir` against `set`.
pub fn run_suites(
    set: &RuleSet,
    dir: &Path,
    filter: Option<&str>,
    bless: bool,
) -> anyhow::Result<Vec<CaseResult>> {
    let keys = Arc::new(KeyRing::parse(TEST_KEYS).expect("the test key parses"));
    let mut results = Vec::new();
    for file in test_files(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let suite: Suite =
            serde_yaml_ng::from_str(&text).with_context(|| format!("{}", file.display()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        for case in suite.cases {
            if filter.is_some_and(|f| !case.name.contains(f)) {
                continue;
            }
            let failures = run_case(set, &keys, base, &case, bless);
            results.push(CaseResult {
                file: file.clone(),
                name: case.name,
                failures,
            });
        }
    }
    Ok(results)
}

fn run_case(
    set: &RuleSet,
    keys: &Arc<KeyRing>,
    base: &Path,
    case: &Case,
    bless: bool,
) -> Vec<String> {
    let role = match &case.role {
        None => set.default_role,
        Some(r) => match set.role(r) {
            Some(id) => id,
            None => return vec![format!("unknown role {r:?}")],
        },
    };
    if let Some(req) = &case.request {
        return match upstream_request(set, keys, role, req) {
            Ok(text) => check_contents(case, &text),
            Err(e) => vec![e],
        };
    }
    let mut failures = Vec::new();
    let input = match (&case.input, &case.input_text) {
        (Some(f), None) => match std::fs::read(base.join(f)) {
            Ok(b) => b,
            Err(e) => return vec![format!("cannot read input {f}: {e}")],
        },
        (None, Some(t)) => t.clone().into_bytes(),
        _ => return vec!["a case needs exactly one of input, input_text".into()],
    };
    let format = match case.content_type.as_deref() {
        Some(ct) => Format::from_name(ct).or_else(|| Format::from_content_type(ct)),
        None => case
            .input
            .as_deref()
            .and_then(|f| Path::new(f).extension()?.to_str())
            .and_then(|e| Format::from_name(if e == "txt" { "text" } else { e }))
            .or(Some(Format::Json)),
    };
    let Some(format) = format else {
        return vec![format!("unknown content_type {:?}", case.content_type)];
    };
    let route = set.route_for(&case.method, &case.path, case.websocket);
    let mut masker = format.masker(set.plan(route, role, keys));
    let result = crate::engine::mask_all(masker.as_mut(), &input);
    let out = match (result, case.error) {
        (Ok(_), true) => return vec!["expected the masker to refuse the input, it did not".into()],
        (Err(_), true) => return failures,
        (Err(e), false) => return vec![format!("masker error: {e}")],
        (Ok(out), false) => out,
    };
    failures.extend(check_contents(case, &String::from_utf8_lossy(&out)));
    if let Some(expect) = &case.expect {
        let path = base.join(expect);
        if bless {
            if let Err(e) = std::fs::write(&path, &out) {
                failures.push(format!("cannot write {}: {e}", path.display()));
            }
        } else {
            match std::fs::read(&path) {
                Ok(want) if want == out => {}
                Ok(want) => failures.push(first_difference(&want, &out)),
                Err(e) => failures.push(format!(
                    "cannot read expected output {}: {e}",
                    path.display()
                )),
            }
        }
    }
    failures
}

/// The case's `must_contain` / `must_not_contain` against `text`.
fn check_contents(case: &Case, text: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for s in &case.must_not_contain {
        if text.contains(s.as_str()) {
            failures.push(format!("output contains {s:?}"));
        }
    }
    for s in &case.must_contain {
        if !text.contains(s.as_str()) {
            failures.push(format!("output lacks {s:?}"));
        }
    }
    failures
}

/// `{token:KIND:VALUE}` replaced by the token of VALUE.
fn expand_tokens(set: &RuleSet, keys: &KeyRing, text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("{token:") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "{token:".len()..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed {{token:…}} in {text:?}"))?;
        let (kind, value) = after[..end].split_once(':').ok_or_else(|| {
            format!(
                "write {{token:KIND:VALUE}}, not {{token:{}}}",
                &after[..end]
            )
        })?;
        let id = set
            .kinds
            .get(kind)
            .ok_or_else(|| format!("unknown kind {kind:?} in a token placeholder"))?;
        let normalized = set.detectors.normalize(id, value);
        keys.tokenize(kind, normalized.as_deref().unwrap_or(value), &mut out);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// What a request-side case would send upstream: `METHOD path-and-query`, a blank line,
/// the body; tokens turned back where the route and the role say.
fn upstream_request(
    set: &RuleSet,
    keys: &KeyRing,
    role: crate::rules::RoleId,
    req: &RequestCase,
) -> Result<String, String> {
    let pq = expand_tokens(set, keys, &req.path)?;
    let body = expand_tokens(set, keys, &req.body)?;
    let path = pq.split('?').next().unwrap_or("/");
    let route = set.route_for(&req.method, path, false);
    let mut turn = crate::proxy::detokenize::Detokenizer::new(
        keys,
        &set.kinds,
        set.role_grants(role),
        &route.detokenize,
    );
    let pq = turn.path_and_query(&pq).into_owned();
    let ct = req
        .content_type
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    let rewritten = if !turn.reads_body() {
        None
    } else if ct.contains("json") {
        turn.json(body.as_bytes()).map_err(|e| e.to_string())?
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        turn.form(body.as_bytes()).map_err(|e| e.to_string())?
    } else {
        None
    };
    let body = rewritten.map_or(body, |b| String::from_utf8_lossy(&b).into_owned());
    Ok(format!("{} {pq}\n\n{body}", req.method))
}

fn first_difference(want: &[u8], got: &[u8]) -> String {
    let at = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let show = |b: &[u8]| {
        String::from_utf8_lossy(&b[at.saturating_sub(20)..(at + 40).min(b.len())]).into_owned()
    };
    format!(
        "output differs from the expected file at byte {at}: want …{}…, got …{}…",
        show(want),
        show(got)
    )
}
