//! Detection measured on test vectors that veil did not write.
//!
//! `tests/data/detection/*.tsv` hold values taken from public reference material
//! (python-stdnum's tests, libphonenumber's example numbers, python-email-validator's
//! lists, Presidio's recognizer tests, the IBAN registry's examples) and hard negatives,
//! each with the kind it is (or `none`: a look-alike or a string that must stay as it is).
//! Each value is placed in chat sentences in Portuguese, German and English and scanned by
//! the built-in detectors of the generic pack. A value is *found* when one finding of its
//! kind covers it exactly; a negative is *altered* when any finding overlaps it.
//!
//! The per-kind, per-source table this prints is docs/detection.md's:
//! `cargo test -p veil-engine --test detection -- --nocapture`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use veil_engine::detect::{Builtin, DetectorDef, DetectorSet, DetectorSpec, Detectors};
use veil_engine::vocab::kind::Kinds;

/// The generic pack's regions (rules/generic/detectors.yaml): national forms of other
/// regions are not expected to be found.
const REGIONS: [&str; 10] = ["BR", "DE", "PT", "IN", "ID", "CO", "US", "GB", "ES", "MX"];

/// Sentences a value is written in: `{}` is the value. Chat as people type it, without a
/// label that would name the kind.
const SENTENCES: [&str; 6] = [
    "{}",
    "Oi, tudo bem? Segue: {}. Obrigado!",
    "pode usar {} por favor",
    "Hallo, hier ist es: {} – danke.",
    "Please use ({}) for this.",
    "ok \"{}\", thanks",
];

struct Vector {
    source: String,
    kind: String,
    value: String,
    note: String,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/detection")
}

fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(data_dir())
        .expect("tests/data/detection")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
        .collect();
    files.sort();
    for path in files {
        let source = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            assert!(
                cols.len() >= 2,
                "{}:{}: want kind<TAB>value<TAB>note",
                path.display(),
                n + 1
            );
            out.push(Vector {
                source: source.clone(),
                kind: cols[0].to_owned(),
                value: cols[1].to_owned(),
                note: cols.get(2).copied().unwrap_or("").to_owned(),
            });
        }
    }
    out
}

fn note_field<'a>(note: &'a str, key: &str) -> Option<&'a str> {
    note.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Is this vector one the generic pack is meant to find? (A national number of a region
/// the pack does not serve is not.)
/// The detector kind that finds a vector's kind: every national id is `nationalid`.
fn detector_kind(kind: &str) -> &str {
    match kind {
        "pan" | "aadhaar" | "nik" | "nif" | "steuer_id" | "dni" | "curp" | "ssn" => "nationalid",
        k => k,
    }
}

/// The label a person writes before a national id (`NIF 501964843`): the schemes whose
/// digits alone could be anything are found after their label only.
fn id_label(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "pan" => "PAN",
        "aadhaar" => "Aadhaar",
        "nik" => "NIK",
        "nif" => "NIF",
        "steuer_id" => "Steuer-ID",
        "dni" => "DNI",
        "curp" => "CURP",
        "ssn" => "SSN",
        _ => return None,
    })
}

/// Sentences with a national id's label: `{L}` the label, `{}` the value.
const ID_SENTENCES: [&str; 4] = [
    "{L} {}",
    "Oi, meu {L} é {}. Obrigado!",
    "Meine {L}: {} – danke.",
    "my {L} is {} thanks",
];

fn expected(v: &Vector, kinds: &Kinds) -> bool {
    if v.kind != "none" && kinds.get(detector_kind(&v.kind)).is_none() {
        // A kind no built-in detector looks for (yet): reported, not measured.
        return false;
    }
    if v.kind != "phone" {
        return true;
    }
    match (note_field(&v.note, "form"), note_field(&v.note, "region")) {
        (Some("national"), Some(region)) => REGIONS.contains(&region),
        _ => true,
    }
}

fn detectors() -> (Detectors, Kinds) {
    let mut kinds = Kinds::default();
    let defs: Vec<DetectorDef> = Builtin::NAMES
        .iter()
        .map(|n| DetectorDef {
            name: n.to_string(),
            kind: kinds.intern(n),
            spec: DetectorSpec::Builtin(Builtin::from_name(n, None).unwrap()),
        })
        .collect();
    (Detectors::compile(&defs).unwrap(), kinds)
}

#[derive(Default)]
struct Tally {
    total: usize,
    /// Positives: found as their kind in every sentence. Negatives: never altered.
    right: usize,
    /// Positives found only as another kind somewhere.
    wrong_kind: usize,
    misses: Vec<String>,
}

impl Tally {
    fn rate(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            100.0 * self.right as f64 / self.total as f64
        }
    }
}

/// What a vector measures: its kind, or for a negative what sort of negative it is.
fn class(v: &Vector) -> &'static str {
    if v.kind != "none" {
        return match v.kind.as_str() {
            "phone" => "phone",
            "email" => "email",
            "cpf" => "cpf",
            "cnpj" => "cnpj",
            "card" => "card",
            "iban" if v.note.contains("swift_official=0") && v.note.contains("stdnum=invalid") => {
                "iban of a national registry (informational)"
            }
            "iban" => "iban",
            k if detector_kind(k) == "nationalid" && v.note.contains("stdnum=invalid") => {
                // Presidio's low-score positives that python-stdnum rejects.
                "national id python-stdnum rejects (informational)"
            }
            k if detector_kind(k) == "nationalid" => "national id (with its label)",
            _ => "other",
        };
    }
    if v.source == "phonenumbers_business" {
        // Toll-free, premium-rate, shared-cost numbers: a business's, not a contact's, but
        // in international form told from a contact's only by a full parse.
        return "business number (informational)";
    }
    if v.source == "email_validator" {
        // An address the validator rejects is still one to a reader (`my@example.com.`
        // ends a sentence): masking it loses nothing.
        return "invalid e-mail syntax (informational)";
    }
    if v.note.contains("phonenumbers-valid=yes") || v.note.contains("imitates=phone") {
        // Presidio's phone negatives are one region's (the Philippines', Turkey's): several
        // are valid numbers of a region the pack serves (`6123456789` is an Indian mobile).
        return "phone negative of another region (informational)";
    }
    if v.note.contains("phone-valid-in=") {
        // A bare look-alike that libphonenumber reads as a valid national number of a
        // region the pack serves: it is a phone number too.
        return "look-alike that is a valid phone (informational)";
    }
    if v.note.contains("imitates=") || v.note.contains("bad-") {
        return "look-alike";
    }
    "hard negative"
}

/// The floor of each class: recall as the kind, or negatives left untouched.
fn required_rate(class: &str) -> f64 {
    match class {
        "phone" | "email" => 99.5,
        "hard negative" => 99.0,
        // The goal is 99%; what is left are IBANs with a lower-case letter (one
        // IBAN to veil and python-stdnum, none to Presidio), Steuer-ID look-alikes that read
        // as phones without their label, IBANs in mixed separators (docs/detection.md).
        "look-alike" => 97.5,
        // `NIF PT 501 964 843`: the country prefix stays in the clear.
        "national id (with its label)" => 98.0,
        c if c.ends_with("(informational)") => 0.0,
        _ => 100.0,
    }
}

#[test]
fn detection_on_public_test_vectors() {
    let (d, kinds) = detectors();
    let all = DetectorSet::all(d.len());
    let vectors = vectors();
    assert!(vectors.len() > 1000, "only {} vectors", vectors.len());
    // (kind, source) → tally; class → tally over every source.
    let mut by_source: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, Tally> = BTreeMap::new();
    let mut out = Vec::new();
    for v in vectors.iter().filter(|v| expected(v, &kinds)) {
        let mut ok = true;
        let mut wrong_kind = false;
        let label = id_label(&v.kind);
        let sentences: Vec<String> = match label {
            Some(l) => ID_SENTENCES.iter().map(|s| s.replace("{L}", l)).collect(),
            None => SENTENCES.iter().map(|s| s.to_string()).collect(),
        };
        for sentence in &sentences {
            let (before, after) = sentence.split_once("{}").unwrap();
            let text = format!("{before}{}{after}", v.value);
            let (start, end) = (before.len(), before.len() + v.value.len());
            out.clear();
            d.scan(&text, 0, all, &mut out);
            if v.kind == "none" {
                if out.iter().any(|f| f.start < end && f.end > start) {
                    ok = false;
                }
                continue;
            }
            let covering = out
                .iter()
                .find(|f| f.start <= start && f.end >= end)
                .map(|f| kinds.name(f.kind));
            match covering {
                Some(k) if k == detector_kind(&v.kind) => {}
                Some(_) => {
                    wrong_kind = true;
                    ok = false
                }
                None => ok = false,
            }
        }
        for t in [
            by_source
                .entry((class(v).to_owned(), v.source.clone()))
                .or_default(),
            by_kind.entry(class(v).to_owned()).or_default(),
        ] {
            t.total += 1;
            if ok {
                t.right += 1;
            } else {
                t.wrong_kind += usize::from(wrong_kind);
                t.misses.push(format!("{:?} ({})", v.value, v.note));
            }
        }
    }
    println!("| kind | source | values | found as the kind / negatives untouched | other kind |");
    println!("|---|---|---:|---:|---:|");
    for ((kind, source), t) in &by_source {
        println!(
            "| {kind} | {source} | {} | {:.1}% | {} |",
            t.total,
            t.rate(),
            t.wrong_kind
        );
    }
    for (kind, t) in &by_kind {
        println!(
            "| **{kind}** | all | {} | **{:.1}%** | {} |",
            t.total,
            t.rate(),
            t.wrong_kind
        );
    }
    if let Some(path) = std::env::var_os("DETECTION_MISSES") {
        // Every miss, for whoever works on a detector.
        let mut all = String::new();
        for ((kind, source), t) in &by_source {
            for m in &t.misses {
                all.push_str(&format!("{kind}\t{source}\t{m}\n"));
            }
        }
        std::fs::write(path, all).unwrap();
    }
    let mut failed = Vec::new();
    for (kind, t) in &by_kind {
        if t.rate() < required_rate(kind) {
            failed.push(format!(
                "{kind}: {:.2}% < {}%; first misses: {:#?}",
                t.rate(),
                required_rate(kind),
                &t.misses[..t.misses.len().min(40)]
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
