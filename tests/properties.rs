//! Property tests of the streaming maskers with the shipped rules (`rules/`).
//!
//! Generated JSON documents (nested objects and arrays, strings with and without escapes,
//! `\u002b`, `\/`, non-ASCII, numbers, literals, several whitespace styles) carry *planted*
//! PII values in free text: phones in national and international formats, e-mail
//! addresses, CPFs, cards, IBANs and WhatsApp JIDs, each generated with valid check digits
//! and numbering plans. Properties:
//!
//! * (a) the output does not depend on how the input is split into chunks (JSON, text);
//! * (b) valid JSON in, valid JSON out;
//! * (c) no planted value is left in the output (raw, or after decoding JSON escapes);
//! * (d) nothing else changes: `admin` gets the input byte for byte, and for `agent` the
//!   parsed output has the input's structure, keys, numbers, literals and PII-free strings;
//! * (e) a truncated or corrupted document is refused, or its output holds no planted value;
//! * (f) the caches replay what a cold masker writes: a document masked after another
//!   masked role's pass over it, and after the thread's caches are cleared, is byte for
//!   byte the first output.
//!
//! Replaying: every run draws a fresh seed; a failure is saved in
//! `tests/properties.proptest-regressions` (commit it) and replayed first on the next run. To replay a whole run,
//! set `PROPTEST_RNG_SEED=<u64>`; `PROPTEST_CASES=<n>` changes the number of cases
//! (default [`DEFAULT_CASES`], a few seconds in a debug build).
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use veil::cli::test::TEST_KEYS;
use veil::engine::format::json::JsonMasker;
use veil::engine::format::text::TextMasker;
use veil::engine::token::KeyRing;
use veil::engine::vocab::plan::MaskPlan;
use veil::engine::{mask_all, MaskError, Masker};
use veil::rules::RuleSet;

const DEFAULT_CASES: u32 = 96;
/// A route with field rules and filter expressions (Chatwoot REST API).
const JSON_PATH: &str = "/api/v1/accounts/1/conversations";
/// No route matches: the fallback, every detector.
const TEXT_PATH: &str = "/no/route/matches";

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

struct Shared {
    set: RuleSet,
    keys: Arc<KeyRing>,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let (set, _) = veil::rules::load_dir(&dir).expect("the shipped rules compile");
        let keys = Arc::new(KeyRing::parse(TEST_KEYS).expect("the test key parses"));
        Shared { set, keys }
    })
}

fn plan(path: &str, role: &str) -> MaskPlan {
    let s = shared();
    let route = s.set.route_for("GET", path, false);
    s.set
        .plan(route, s.set.role(role).expect("shipped role"), &s.keys)
}

// ---------------------------------------------------------------------------------------
// Planted PII

fn digits(n: usize) -> impl Strategy<Value = String> {
    vec(0u8..10, n).prop_map(|d| d.iter().map(|x| char::from(b'0' + x)).collect())
}

/// A Brazilian mobile number: area code, then `9` and eight digits.
fn br_mobile() -> impl Strategy<Value = (String, String)> {
    (
        select(&["11", "21", "31", "41", "48", "51", "61", "71", "81", "85"][..]),
        0u8..4,
        digits(7),
    )
        .prop_map(|(ddd, d, rest)| (ddd.to_string(), format!("9{}{rest}", 6 + d)))
}

fn phone() -> impl Strategy<Value = String> {
    prop_oneof![
        (br_mobile(), 0u8..5).prop_map(|((ddd, n), style)| match style {
            0 => format!("+55 {ddd} {}-{}", &n[..5], &n[5..]),
            1 => format!("+55{ddd}{n}"),
            2 => format!("55{ddd}{n}"),
            3 => format!("({ddd}) {}-{}", &n[..5], &n[5..]),
            _ => format!("55{ddd}{n}@s.whatsapp.net"),
        }),
        // German mobile 0151: eight digits after the prefix.
        (digits(8), any::<bool>()).prop_map(|(n, intl)| if intl {
            format!("+49 151{} {}", &n[..1], &n[1..])
        } else {
            format!("0151 {n}")
        }),
    ]
}

fn email() -> impl Strategy<Value = String> {
    (
        "[a-z]{2,10}",
        option::of("[a-z]{2,8}"),
        select(
            &[
                "example.com",
                "example.org",
                "example.de",
                "mail.example.com.br",
            ][..],
        ),
    )
        .prop_map(|(a, b, host)| match b {
            Some(b) => format!("{a}.{b}@{host}"),
            None => format!("{a}@{host}"),
        })
}

fn cpf() -> impl Strategy<Value = String> {
    digits(9)
        .prop_filter("not all the same digit", |d| {
            d.bytes().any(|b| b != d.as_bytes()[0])
        })
        .prop_map(|d| {
            let mut n: Vec<u32> = d.bytes().map(|b| u32::from(b - b'0')).collect();
            for len in [9u32, 10] {
                let sum: u32 = n.iter().zip((2..=len + 1).rev()).map(|(d, w)| d * w).sum();
                let r = sum % 11;
                n.push(if r < 2 { 0 } else { 11 - r });
            }
            let s: String = n.iter().map(|d| char::from(b'0' + *d as u8)).collect();
            format!("{}.{}.{}-{}", &s[..3], &s[3..6], &s[6..9], &s[9..])
        })
}

fn card() -> impl Strategy<Value = String> {
    digits(14).prop_map(|d| {
        let mut s = format!("4{d}");
        let sum: u32 = s
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let v = u32::from(b - b'0');
                // The check digit goes last, so the rightmost digit here is doubled.
                if i % 2 == 0 {
                    let x = v * 2;
                    if x > 9 {
                        x - 9
                    } else {
                        x
                    }
                } else {
                    v
                }
            })
            .sum();
        s.push(char::from(b'0' + ((10 - sum % 10) % 10) as u8));
        format!("{} {} {} {}", &s[..4], &s[4..8], &s[8..12], &s[12..])
    })
}

fn iban() -> impl Strategy<Value = String> {
    digits(18).prop_map(|bban| {
        // Check digits: 98 - (BBAN ++ "DE00" as digits) mod 97.
        let numeric = format!("{bban}131400");
        let r = numeric
            .bytes()
            .fold(0u64, |acc, b| (acc * 10 + u64::from(b - b'0')) % 97);
        let s = format!("DE{:02}{bban}", 98 - r);
        let groups: Vec<&str> = (0..s.len())
            .step_by(4)
            .map(|i| &s[i..(i + 4).min(s.len())])
            .collect();
        groups.join(" ")
    })
}

fn pii() -> impl Strategy<Value = String> {
    prop_oneof![4 => phone(), 2 => email(), 1 => cpf(), 1 => card(), 1 => iban()]
}

// ---------------------------------------------------------------------------------------
// Free text and JSON documents

/// Words of chat messages: no `@` and never seven digits, so that no detector fires on
/// them; a few glue digits to letters (`3h`, `A38`), right beside a planted value.
const WORDS: &[&str] = &[
    "olá",
    "bom",
    "dia",
    "pedido",
    "entrega",
    "amanhã",
    "obrigada",
    "você",
    "não",
    "ação",
    "hello",
    "order",
    "shipped",
    "thanks",
    "please",
    "call",
    "me",
    "at",
    "or",
    "hi",
    "Guten",
    "Tag",
    "Bestellung",
    "Größe",
    "Müller",
    "Straße",
    "bitte",
    "rufen",
    "Sie",
    "an",
    "—",
    "!",
    "?",
    ",",
    ":",
    "😊",
    "🌸",
    "日本",
    "«citação»",
    "\"quoted\"",
    "a/b",
    "C:\\pasta",
    "tab\there",
    "line\nbreak",
    "<b>bold</b>",
    "R$",
    "€",
    "x",
    "3h",
    "2pm",
    "A38",
    "24h",
    "nº12",
    "x2",
];

#[derive(Clone, Debug)]
struct Text {
    text: String,
    planted: Vec<String>,
}

fn words() -> impl Strategy<Value = Vec<&'static str>> {
    vec(select(WORDS), 1..5)
}

/// Free text with 0..3 planted values, always separated from each other by words.
fn text() -> impl Strategy<Value = Text> {
    (
        option::weighted(0.2, pii()),
        vec((words(), option::weighted(0.35, pii())), 1..4),
    )
        .prop_map(|(first, rest)| {
            let mut parts: Vec<String> = Vec::new();
            let mut planted = Vec::new();
            for p in first.into_iter() {
                planted.push(p.clone());
                parts.push(p);
            }
            for (ws, p) in rest {
                parts.extend(ws.iter().map(|w| w.to_string()));
                if let Some(p) = p {
                    planted.push(p.clone());
                    parts.push(p);
                }
            }
            Text {
                text: parts.join(" "),
                planted,
            }
        })
}

#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    /// A string and its escape style (bits: `\/`, `\u002b`, `\u0040`, non-ASCII as
    /// `\uXXXX`, digits as `\u003X`).
    Str(Text, u8),
    Arr(Vec<J>),
    Obj(Vec<(String, u8, J)>),
}

/// Keys no field rule of the route names (a field rule would mask a whole value, and
/// `ignore` rules would let planted values through), plus a few the filters look at.
const KEYS: &[&str] = &[
    "id",
    "content",
    "body",
    "text",
    "notes",
    "status",
    "meta",
    "data",
    "items",
    "title",
    "description",
    "city",
    "labels",
    "messages",
    "payload",
    "content_attributes",
    "contact",
    "attrs",
    "ünïcödé",
    "with \"quote\"",
    "a/b",
    "",
    "k\\ey",
];

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "-?(0|[1-9][0-9]{0,5})(\\.[0-9]{1,4})?([eE][+-]?[0-9]{1,2})?",
    ]
}

fn json() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        1 => Just(J::Null),
        1 => any::<bool>().prop_map(J::Bool),
        2 => number().prop_map(J::Num),
        6 => (text(), any::<u8>()).prop_map(|(t, e)| J::Str(t, e)),
    ];
    let tree = leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(J::Arr),
            vec((select(KEYS), any::<u8>(), inner), 0..6)
                .prop_map(|m| J::Obj(m.into_iter().map(|(k, e, v)| (k.into(), e, v)).collect())),
        ]
    });
    // Mostly containers at the top, as APIs send them.
    prop_oneof![
        4 => vec((select(KEYS), any::<u8>(), tree.clone()), 0..6)
            .prop_map(|m| J::Obj(m.into_iter().map(|(k, e, v)| (k.into(), e, v)).collect())),
        2 => vec(tree.clone(), 0..6).prop_map(J::Arr),
        1 => tree,
    ]
}

/// A generated document: its bytes and every value planted in it.
#[derive(Clone, Debug)]
struct Doc {
    bytes: Vec<u8>,
    planted: Vec<String>,
}

fn write_str(s: &str, esc: u8, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).unwrap(),
            '/' if esc & 1 != 0 => out.push_str("\\/"),
            '+' if esc & 2 != 0 => out.push_str("\\u002b"),
            '@' if esc & 4 != 0 => out.push_str("\\u0040"),
            c if !c.is_ascii() && esc & 8 != 0 => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(out, "\\u{u:04X}").unwrap();
                }
            }
            c if c.is_ascii_digit() && esc & 0x30 == 0x30 => {
                write!(out, "\\u{:04x}", c as u32).unwrap()
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_json(j: &J, ws: &str, out: &mut String, planted: &mut Vec<String>) {
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) => out.push_str(n),
        J::Str(t, esc) => {
            planted.extend(t.planted.iter().cloned());
            write_str(&t.text, *esc, out);
        }
        J::Arr(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(ws);
                write_json(v, ws, out, planted);
            }
            out.push_str(ws);
            out.push(']');
        }
        J::Obj(members) => {
            out.push('{');
            for (i, (k, esc, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(ws);
                write_str(k, *esc, out);
                out.push(':');
                out.push_str(&ws[..ws.len().min(1)]);
                write_json(v, ws, out, planted);
            }
            out.push_str(ws);
            out.push('}');
        }
    }
}

fn doc() -> impl Strategy<Value = Doc> {
    (json(), select(&["", " ", "\n", "\n  ", "\t", "\r\n "][..])).prop_map(|(j, ws)| {
        let mut s = String::new();
        let mut planted = Vec::new();
        write_json(&j, ws, &mut s, &mut planted);
        Doc {
            bytes: s.into_bytes(),
            planted,
        }
    })
}

/// Chat text: lines of free text.
fn text_doc() -> impl Strategy<Value = Doc> {
    vec(text(), 1..8).prop_map(|lines| Doc {
        bytes: lines
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes(),
        planted: lines.into_iter().flat_map(|t| t.planted).collect(),
    })
}

/// Chunk lengths, used in a cycle: 1-byte chunks, or a few random lengths.
fn splits() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![1 => Just(vec![1]), 3 => vec(1usize..80, 1..8)]
}

// ---------------------------------------------------------------------------------------
// Helpers

fn chunks<'a>(doc: &'a [u8], splits: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = doc;
    for &n in splits.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a);
        rest = b;
    }
    out
}

/// Pushes the chunks and finishes; returns what was emitted and the first error.
fn run_chunked(masker: &mut dyn Masker, chunks: &[&[u8]]) -> (Vec<u8>, Option<MaskError>) {
    let mut out = Vec::new();
    for c in chunks {
        if let Err(e) = masker.push(c, &mut out) {
            return (out, Some(e));
        }
    }
    let err = masker.finish(&mut out).err();
    (out, err)
}

/// Decodes JSON string escapes wherever they are (a lenient pass over any bytes), so that
/// `\u002b55…` is searched for as `+55…`.
fn unescape_lenient(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut pending_high: Option<u32> = None;
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let Ok(u) = u32::from_str_radix(&hex, 16) else {
                    continue;
                };
                if (0xD800..0xDC00).contains(&u) {
                    pending_high = Some(u);
                } else if (0xDC00..0xE000).contains(&u) {
                    if let Some(h) = pending_high.take() {
                        let cp = 0x10000 + ((h - 0xD800) << 10) + (u - 0xDC00);
                        out.extend(char::from_u32(cp));
                    }
                } else {
                    out.extend(char::from_u32(u));
                }
            }
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn leaked<'a>(out: &[u8], planted: &'a [String]) -> Option<&'a str> {
    let raw = String::from_utf8_lossy(out);
    let decoded = unescape_lenient(out);
    planted
        .iter()
        .find(|p| raw.contains(p.as_str()) || decoded.contains(p.as_str()))
        .map(String::as_str)
}

/// Compares two parsed documents: same structure, keys, numbers and literals; strings
/// equal unless the input string holds a planted value.
fn same_outside_pii(a: &serde_json::Value, b: &serde_json::Value, planted: &[String]) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (String(x), String(y)) => x == y || planted.iter().any(|p| x.contains(p.as_str())),
        (Array(x), Array(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(x, y)| same_outside_pii(x, y, planted))
        }
        (Object(x), Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same_outside_pii(vx, vy, planted))
        }
        (x, y) => x == y,
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(config())]

    /// (a) JSON: chunking does not change the output.
    #[test]
    fn json_output_does_not_depend_on_chunking(doc in doc(), splits in splits()) {
        for role in ["agent", "supervisor", "admin"] {
            let one = mask_all(&mut JsonMasker::new(plan(JSON_PATH, role)), &doc.bytes)
                .expect("a valid document is accepted");
            let (chunked, err) =
                run_chunked(&mut JsonMasker::new(plan(JSON_PATH, role)), &chunks(&doc.bytes, &splits));
            prop_assert!(err.is_none(), "{err:?}");
            prop_assert_eq!(show(&one), show(&chunked));
        }
    }

    /// (f) JSON and text: warm after another role, and cold, the same bytes.
    #[test]
    fn caches_replay_what_a_cold_masker_writes(doc in doc(), text in text_doc()) {
        for (role, other) in [("agent", "supervisor"), ("supervisor", "agent")] {
            let json = |r: &str| {
                mask_all(&mut JsonMasker::new(plan(JSON_PATH, r)), &doc.bytes).expect("accepted")
            };
            let txt = |r: &str| mask_all(&mut TextMasker::new(plan(TEXT_PATH, r)), &text.bytes).unwrap();
            let (first_json, first_text) = (json(role), txt(role));
            // (Two roles may rightly write the same bytes: the engine's cache tests use
            // documents where they differ, so that a key missing a part of the scope fails.)
            let _ = (json(other), txt(other));
            prop_assert_eq!(show(&json(role)), show(&first_json), "after {}", other);
            prop_assert_eq!(show(&txt(role)), show(&first_text), "after {}", other);
            veil::engine::clear_thread_caches();
            prop_assert_eq!(show(&json(role)), show(&first_json), "cold");
            prop_assert_eq!(show(&txt(role)), show(&first_text), "cold");
        }
    }

    /// (b) valid JSON in, valid JSON out; (c) no planted value left; (d) the rest unchanged.
    #[test]
    fn json_masks_planted_values_and_nothing_else(doc in doc()) {
        let input: serde_json::Value = serde_json::from_slice(&doc.bytes).expect("generated JSON parses");
        let out = mask_all(&mut JsonMasker::new(plan(JSON_PATH, "agent")), &doc.bytes)
            .expect("a valid document is accepted");
        let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&out);
        prop_assert!(parsed.is_ok(), "invalid JSON out: {}", show(&out));
        let parsed = parsed.unwrap();
        prop_assert!(leaked(&out, &doc.planted).is_none(),
            "{:?} left in {}", leaked(&out, &doc.planted), show(&out));
        prop_assert!(same_outside_pii(&input, &parsed, &doc.planted),
            "changed outside PII:\n{}\n{}", show(&doc.bytes), show(&out));

        let admin = mask_all(&mut JsonMasker::new(plan(JSON_PATH, "admin")), &doc.bytes).unwrap();
        prop_assert_eq!(show(&admin), show(&doc.bytes));
    }

    /// (e) a truncated or corrupted document: an error, or an output without planted values.
    #[test]
    fn json_malformed_fails_closed(
        doc in doc(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        truncate in any::<bool>(),
        splits in splits(),
    ) {
        if doc.bytes.is_empty() {
            return Ok(());
        }
        let mut bad = doc.bytes.clone();
        let i = at.index(bad.len());
        if truncate {
            bad.truncate(i);
        } else {
            bad[i] = byte;
            // A corruption that leaves valid JSON is not malformed input (it may, say, glue
            // a letter to a phone number, which the detectors then rightly leave alone).
            if serde_json::from_slice::<serde_json::Value>(&bad).is_ok() {
                return Ok(());
            }
        }
        let (out, err) = run_chunked(&mut JsonMasker::new(plan(JSON_PATH, "agent")), &chunks(&bad, &splits));
        prop_assert!(leaked(&out, &doc.planted).is_none(),
            "{:?} left in {} (error: {err:?})", leaked(&out, &doc.planted), show(&out));
    }

    /// (a) and (c) for text, and admin sees text unchanged.
    #[test]
    fn text_output_does_not_depend_on_chunking(doc in text_doc(), splits in splits()) {
        let one = mask_all(&mut TextMasker::new(plan(TEXT_PATH, "agent")), &doc.bytes).unwrap();
        let (chunked, err) =
            run_chunked(&mut TextMasker::new(plan(TEXT_PATH, "agent")), &chunks(&doc.bytes, &splits));
        prop_assert!(err.is_none());
        prop_assert_eq!(show(&one), show(&chunked));
        prop_assert!(leaked(&one, &doc.planted).is_none(),
            "{:?} left in {}", leaked(&one, &doc.planted), show(&one));
        let admin = mask_all(&mut TextMasker::new(plan(TEXT_PATH, "admin")), &doc.bytes).unwrap();
        prop_assert_eq!(show(&admin), show(&doc.bytes));
    }
}

/// The generators plant what the detectors find: each kind alone, in a plain string.
#[test]
fn each_planted_format_is_detected() {
    for value in [
        "+55 11 98765-4321",
        "+5511987654321",
        "5511987654321",
        "(11) 97654-3210",
        "+49 1512 3456789",
        "0151 23456789",
        "maria.aparecida@example.com",
        "123.456.789-09",
        "4111 1111 1111 1111",
        "DE89 3704 0044 0532 0130 00",
        "5521998765432@s.whatsapp.net",
    ] {
        let doc = format!(r#"{{"content":"olá {value} obrigada"}}"#);
        let out = mask_all(
            &mut JsonMasker::new(plan(JSON_PATH, "agent")),
            doc.as_bytes(),
        )
        .unwrap();
        assert!(
            !show(&out).contains(value),
            "{value} not masked: {}",
            show(&out)
        );
    }
}
