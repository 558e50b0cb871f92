//! The shipped rule packs through the real `veil` binary: `veil check` accepts them,
//! `veil test` runs their cases (all must pass), and a broken rule folder is rejected
//! with file, line and reason for every problem.
use std::path::Path;
use std::process::Command;

fn veil(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("veil runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn shipped_packs_check_clean() {
    let (ok, stdout, stderr) = veil(&["check", "--rules", "rules"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("roles admin, agent, supervisor (default agent)"),
        "{stdout}"
    );
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn shipped_packs_pass_their_rule_tests() {
    let (ok, stdout, stderr) = veil(&["test", "--rules", "rules"]);
    assert!(ok, "{stdout}{stderr}");
    let summary = stdout.lines().last().unwrap_or("");
    let passed: usize = summary.split_whitespace().next().unwrap().parse().unwrap();
    assert!(passed >= 15, "{summary}");
    assert!(summary.ends_with("0 failed"), "{summary}");
}

#[test]
fn a_broken_rule_folder_is_rejected_with_every_problem_located() {
    let (ok, _stdout, stderr) = veil(&["check", "--rules", "tests/data/bad-rules"]);
    assert!(!ok);
    let bad = Path::new("tests/data/bad-rules");
    let expect = [
        (bad.join("syntax.yaml"), 4, "unknown field `colour`"),
        (bad.join("rules.yaml"), 3, "unknown builtin \"emial\""),
    ];
    for (file, line, reason) in expect {
        let prefix = format!("{}:{line}:", file.display());
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(reason)),
            "missing {prefix} … {reason} in:\n{stderr}"
        );
    }
}

#[test]
fn semantic_errors_are_all_reported() {
    // Without the syntax error, the compiler reaches every semantic problem.
    let dir = std::env::temp_dir().join(format!("veil-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("tests/data/bad-rules/rules.yaml", dir.join("rules.yaml")).unwrap();
    let (ok, _stdout, stderr) = veil(&["check", "--rules", dir.to_str().unwrap()]);
    assert!(!ok);
    let file = dir.join("rules.yaml");
    let line_of = |reason: &str| -> usize {
        let l = stderr
            .lines()
            .find(|l| l.contains(reason))
            .unwrap_or_else(|| panic!("no {reason:?} in:\n{stderr}"));
        assert!(l.starts_with(&file.display().to_string()), "{l}");
        l.split(':').nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(line_of("unknown builtin \"emial\""), 3);
    // The two problems below are found once detectors compile; the first error stops there,
    // so fix the builtin and check again.
    let fixed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("emial", "email");
    std::fs::write(&file, fixed).unwrap();
    let (ok, _stdout, stderr) = veil(&["check", "--rules", dir.to_str().unwrap()]);
    assert!(!ok);
    for (reason, line) in [
        ("no maximum match length", 4),
        ("negative indices", 9),
        ("unknown detector \"nosuch\"", 10),
        ("unknown action \"tokenize\"", 14),
        ("unknown kind \"phnoe\"", 15),
    ] {
        let l = stderr
            .lines()
            .find(|l| l.contains(reason))
            .unwrap_or_else(|| panic!("no {reason:?} in:\n{stderr}"));
        let got: usize = l.split(':').nth(1).unwrap().parse().unwrap();
        assert_eq!(got, line, "{l}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
