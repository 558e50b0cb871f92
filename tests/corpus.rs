//! Every payload of the shared corpus (../shared/corpus, real inbox shapes with a list of
//! the PII each holds) masked by the real `veil mask` binary with the shipped rules:
//! as `agent` none of the listed phones, WhatsApp ids, e-mails, national ids or financial
//! values may remain and the listed non-PII lookalikes (`keep`) must; JSON stays valid;
//! as `admin` the output is the input, byte for byte.
//!
//! The corpus is not part of this repository: where it is absent these tests say so and
//! skip. The same properties are checked on the project's own fixtures in tests/packs.rs.
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VEIL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    dir.is_dir().then_some(dir)
}

struct Case {
    payload: PathBuf,
    expect: serde_json::Value,
    method: String,
    path: String,
    format: &'static str,
    websocket: bool,
}

fn cases(dir: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = walk(dir);
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let Some(stem) = name.strip_suffix(".expect.json") else {
            continue;
        };
        let expect: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let payload = ["json", "txt", "csv", "html"]
            .iter()
            .map(|e| f.with_file_name(format!("{stem}.{e}")))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no payload for {}", f.display()));
        let request = expect["about"]["request"].as_str().unwrap_or("");
        let method = if request.starts_with("POST") {
            "POST"
        } else {
            "GET"
        }
        .to_string();
        let group = f.parent().unwrap().file_name().unwrap().to_str().unwrap();
        let websocket = request.contains("websocket") || request.starts_with("WebSocket");
        let mut path = request
            .split_whitespace()
            .find(|w| w.starts_with('/') || w.starts_with("https://"))
            .unwrap_or("/")
            .to_string();
        if let Some(rest) = path.strip_prefix("https://") {
            path = rest.find('/').map_or("/".into(), |i| rest[i..].to_string());
        }
        if websocket {
            path = "/cable".into();
        }
        if group == "whatsapp-web" {
            path = "/webhooks/baileys".into();
        }
        let path = path.split('?').next().unwrap().replace(['<', '>'], "x");
        let format = match payload.extension().unwrap().to_str().unwrap() {
            "csv" => "csv",
            "html" => "html",
            _ => "json",
        };
        out.push(Case {
            payload,
            expect,
            method,
            path,
            format,
            websocket,
        });
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn veil_mask(case: &Case, role: &str) -> Vec<u8> {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veil"));
    cmd.args(["mask", "--rules"])
        .arg(&rules)
        .args([
            "--role",
            role,
            "--content-type",
            case.format,
            "--route",
            &case.path,
            "--method",
            &case.method,
        ])
        .env(
            "VEIL_KEYS",
            "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        );
    if case.websocket {
        cmd.arg("--websocket");
    }
    let out = cmd.arg(&case.payload).output().unwrap();
    assert!(
        out.status.success(),
        "veil mask failed on {}: {}",
        case.payload.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn strings(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn agent_output_holds_no_listed_pii_and_keeps_lookalikes() {
    let Some(dir) = corpus_dir() else {
        eprintln!("skipped: ../shared/corpus not found (set VEIL_CORPUS to run these tests)");
        return;
    };
    let mut problems = Vec::new();
    let cases = cases(&dir);
    assert!(cases.len() >= 20, "corpus has {} cases", cases.len());
    for case in &cases {
        let out = veil_mask(case, "agent");
        let text = String::from_utf8_lossy(&out);
        let name = case
            .payload
            .strip_prefix(&dir)
            .unwrap()
            .display()
            .to_string();
        for key in [
            "phones",
            "emails",
            "whatsapp_ids",
            "national_ids",
            "financial",
        ] {
            for v in strings(&case.expect, key) {
                if text.contains(&v) {
                    problems.push(format!("{name}: {key} value {v:?} leaked"));
                }
            }
        }
        for v in strings(&case.expect, "keep") {
            // A field rule may change a lookalike inside the whole field it masks (the
            // corpus README allows it): the export's additional_attributes and
            // custom_attributes columns are masked whole (they hold national ids no detector
            // can recognise).
            if name.ends_with("contacts-export-all-columns.csv")
                && (v.starts_with("CAF3x9Q2mK8") || v == "K-2024-118")
            {
                continue;
            }
            let input = std::fs::read_to_string(&case.payload).unwrap();
            if input.matches(&v).count() != text.matches(&v).count() {
                problems.push(format!("{name}: keep value {v:?} was changed"));
            }
        }
        if case.format == "json" {
            for (n, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
                let whole = !name.ends_with(".txt");
                let doc = if whole { text.as_ref() } else { line };
                if let Err(e) = serde_json::from_str::<serde_json::Value>(doc) {
                    problems.push(format!("{name}: output line {n} is not valid JSON: {e}"));
                }
                if whole {
                    break;
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn admin_output_is_byte_identical() {
    let Some(dir) = corpus_dir() else {
        eprintln!("skipped: ../shared/corpus not found (set VEIL_CORPUS to run these tests)");
        return;
    };
    for case in &cases(&dir) {
        let out = veil_mask(case, "admin");
        let input = std::fs::read(&case.payload).unwrap();
        assert!(
            out == input,
            "admin output differs for {}",
            case.payload.display()
        );
    }
}
