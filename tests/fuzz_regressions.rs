//! Replays every input under `fuzz/regressions/<target>/` (minimized crashers, once
//! committed, stay fixed) and `fuzz/seeds/<target>/` (the committed seed corpus, realistic
//! documents from the rule packs' tests and tests/data) through the oracle of that fuzz
//! target. The oracles live in
//! `fuzz/src/lib.rs` and are included here as they are, so this test and the fuzzers check
//! the same things.
#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod oracles;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files: Vec<_> = ["regressions", "seeds"]
        .iter()
        .flat_map(|kind| {
            let dir = root.join(kind).join(target);
            std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
        })
        .filter(|p| p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        if let Err(e) = std::panic::catch_unwind(|| check(&data)) {
            std::panic::resume_unwind(Box::new(format!("{}: {e:?}", f.display())));
        }
    }
    files.len()
}

#[test]
fn json_regressions() {
    replay("json", oracles::check_json);
}

#[test]
fn text_regressions() {
    replay("text", oracles::check_text);
}

#[test]
fn rules_regressions() {
    replay("rules", oracles::check_rules);
}

#[test]
fn keys_regressions() {
    replay("keys", oracles::check_keys);
}

#[test]
fn request_regressions() {
    replay("request", oracles::check_request);
}

#[test]
fn path_regressions() {
    replay("path", oracles::check_path);
}

/// The oracles themselves run: a few hand-made inputs, including every chunking mode.
#[test]
fn oracles_accept_known_good_inputs() {
    let doc = br#"{"content":"ligue +55 11 98765-4321 3h","n":[1,2.5e3,true,null]}"#;
    for control in 0..=255u8 {
        let mut data = vec![control];
        data.extend_from_slice(doc);
        oracles::check_json(&data);
        oracles::check_text(&data);
    }
    oracles::check_rules(b"\x01routes: []");
    oracles::check_keys(b"test AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    for (control, body) in [
        (0u8, "q=@T&page=1&sort=@T"),
        (1, "source_id=@T&message%5Bcontent%5D=@T+@E"),
        (
            2,
            r#"{"payload":[{"attribute_key":"phone_number","values":["@T","@E"]}],"c":"@T"}"#,
        ),
    ] {
        let mut data = vec![control];
        data.extend_from_slice(body.as_bytes());
        oracles::check_request(&data);
    }
    for p in [
        "assets/%2e%2e/api/v1/accounts/1/contacts",
        "/api//v1/./profile/../accounts/1/contacts",
        "%61pi/v1/accounts/1/conversations/1/messages",
        "packs/..%2fapi",
        "cable",
    ] {
        oracles::check_path(p.as_bytes());
    }
}

#[test]
fn html_regressions() {
    replay("html", |d| {
        oracles::check_format(veil::engine::format::Format::Html, d)
    });
}

#[test]
fn csv_regressions() {
    replay("csv", |d| {
        oracles::check_format(veil::engine::format::Format::Csv, d)
    });
}

#[test]
fn sse_regressions() {
    replay("sse", |d| {
        oracles::check_format(veil::engine::format::Format::Sse, d)
    });
}

#[test]
fn config_regressions() {
    replay("config", oracles::check_config);
}

#[test]
fn codec_regressions() {
    replay("codec", oracles::check_codec);
}

#[test]
fn headers_regressions() {
    replay("headers", oracles::check_headers);
}

#[test]
fn every_target_has_a_seed_corpus() {
    for target in [
        "json", "text", "html", "csv", "sse", "rules", "keys", "config", "request", "path",
        "codec", "headers",
    ] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target);
        let n = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .count();
        assert!(n > 0, "{target} has no seeds");
    }
}
