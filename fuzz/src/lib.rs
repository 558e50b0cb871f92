//! The oracles of veil's fuzz targets, shared with `tests/fuzz_regressions.rs` (which
//! includes this file) so that a minimized crasher committed under `fuzz/regressions/`
//! goes through exactly the checks that found it.
//!
//! Inputs that drive a masker start with one control byte that picks the route, the role
//! and how the rest is split into chunks (see [`Setup`]); the remaining bytes are the
//! document.
//!
//! The shipped rules are compiled into the binary (`include_str!`), so the targets need no
//! files at run time.
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use veil::cli::test::TEST_KEYS;
use veil::engine::format::json::JsonMasker;
use veil::engine::format::text::TextMasker;
use veil::engine::format::Format;
use veil::engine::token::KeyRing;
use veil::engine::vocab::plan::MaskPlan;
use veil::engine::{mask_all, MaskError, Masker};
use veil::rules::diagnostic::Source;
use veil::rules::RuleSet;

/// Routes the maskers are driven with: field rules with filters (Chatwoot API), field rules
/// without (WhatsApp Cloud), and the fallback (detectors only).
const PATHS: [&str; 3] = [
    "/api/v1/accounts/1/conversations",
    "/webhooks/whatsapp",
    "/no/route/matches",
];
const ROLES: [&str; 3] = ["agent", "admin", "supervisor"];

struct Shared {
    set: RuleSet,
    keys: Arc<KeyRing>,
}

/// The shipped rule files, compiled into veil itself.
fn shipped_sources() -> Vec<Source> {
    veil::rules::embedded::sources()
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let (set, _) = veil::rules::compile::compile_sources(&shipped_sources(), Vec::new())
            .expect("the shipped rules compile");
        let keys = Arc::new(KeyRing::parse(TEST_KEYS).expect("the test key parses"));
        Shared { set, keys }
    })
}

/// What the control byte selects.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub path: &'static str,
    pub role: &'static str,
    seed: u8,
}

impl Setup {
    pub fn from_byte(b: u8) -> Setup {
        Setup {
            path: PATHS[usize::from(b) % PATHS.len()],
            role: ROLES[usize::from(b / 3) % ROLES.len()],
            seed: b,
        }
    }

    pub fn plan(&self) -> MaskPlan {
        self.plan_for(self.role)
    }

    /// The plan of another masked role on the same route (agent <-> supervisor).
    pub fn other_plan(&self) -> MaskPlan {
        self.plan_for(if self.role == "agent" {
            "supervisor"
        } else {
            "agent"
        })
    }

    pub fn plan_for(&self, role: &str) -> MaskPlan {
        let s = shared();
        let route = s.set.route_for("GET", self.path, false);
        let role = s.set.role(role).expect("shipped role");
        s.set.plan(route, role, &s.keys)
    }

    /// Chunk lengths for a document: 1-byte chunks for seeds below 6, otherwise lengths
    /// from a small generator, between 1 and 64 bytes.
    pub fn chunks<'a>(&self, doc: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut state = u32::from(self.seed) | 1;
        let mut rest = doc;
        while !rest.is_empty() {
            let len = if self.seed < 6 {
                1
            } else {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                1 + (state as usize % 64)
            };
            let (a, b) = rest.split_at(len.min(rest.len()));
            out.push(a);
            rest = b;
        }
        out
    }
}

/// The caches replay what a cold masker writes: `doc` masked after another masked role's
/// pass over it, and again after the thread's caches are cleared, comes out as `first`.
fn check_warm(
    make: &dyn Fn(MaskPlan) -> Box<dyn Masker>,
    setup: &Setup,
    doc: &[u8],
    first: &Result<Vec<u8>, MaskError>,
) {
    let _ = mask_all(make(setup.other_plan()).as_mut(), doc);
    let after_other = mask_all(make(setup.plan()).as_mut(), doc);
    assert!(
        after_other.as_ref().ok() == first.as_ref().ok(),
        "another role's pass changed the output ({setup:?}):\n{:?}\n{:?}",
        first
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        after_other
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned()),
    );
    veil::engine::clear_thread_caches();
    let cold = mask_all(make(setup.plan()).as_mut(), doc);
    assert!(
        cold.as_ref().ok() == first.as_ref().ok(),
        "cold caches changed the output ({setup:?})"
    );
}

/// Feeds `chunks` to `masker` and finishes it.
pub fn mask_chunked(masker: &mut dyn Masker, chunks: &[&[u8]]) -> Result<Vec<u8>, MaskError> {
    let mut out = Vec::new();
    for c in chunks {
        masker.push(c, &mut out)?;
    }
    masker.finish(&mut out)?;
    Ok(out)
}

/// JSON masker: never panics; the verdict and the output do not depend on chunking; valid
/// JSON in means the masker accepts it and its output is valid JSON; a role that sees
/// everything in the clear gets the input back byte for byte.
pub fn check_json(data: &[u8]) {
    let Some((&control, doc)) = data.split_first() else {
        return;
    };
    let setup = Setup::from_byte(control);
    let one = mask_all(&mut JsonMasker::new(setup.plan()), doc);
    let chunked = mask_chunked(&mut JsonMasker::new(setup.plan()), &setup.chunks(doc));
    match (&one, &chunked) {
        (Ok(a), Ok(b)) => assert!(a == b, "chunking changed the output ({setup:?})"),
        (Err(_), Err(_)) => {}
        _ => panic!("chunking changed the verdict ({setup:?}): {one:?} vs {chunked:?}"),
    }
    check_warm(&|p| Box::new(JsonMasker::new(p)), &setup, doc, &one);
    if serde_json::from_slice::<serde_json::Value>(doc).is_ok() {
        let out = one.unwrap_or_else(|e| panic!("valid JSON refused ({setup:?}): {e}"));
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&out) {
            panic!(
                "valid JSON in, invalid JSON out ({setup:?}): {e}\n{}",
                String::from_utf8_lossy(&out)
            );
        }
        if setup.role == "admin" {
            assert!(out == doc, "admin output differs from the input");
        }
    }
}

/// Text masker: never panics, output independent of chunking, admin gets the input back.
pub fn check_text(data: &[u8]) {
    let Some((&control, doc)) = data.split_first() else {
        return;
    };
    let setup = Setup::from_byte(control);
    let one = mask_all(&mut TextMasker::new(setup.plan()), doc).expect("text never fails");
    let chunked = mask_chunked(&mut TextMasker::new(setup.plan()), &setup.chunks(doc))
        .expect("text never fails");
    assert!(
        one == chunked,
        "chunking changed the output ({setup:?}):\n{}\n{}",
        String::from_utf8_lossy(&one),
        String::from_utf8_lossy(&chunked)
    );
    check_warm(
        &|p| Box::new(TextMasker::new(p)),
        &setup,
        doc,
        &Ok(one.clone()),
    );
    if setup.role == "admin" {
        assert!(one == doc, "admin output differs from the input");
    }
}

/// HTML, CSV and SSE maskers: never panic; the verdict and the output do not depend on
/// chunking; a role that sees everything in the clear gets the input back byte for byte.
pub fn check_format(format: Format, data: &[u8]) {
    let Some((&control, doc)) = data.split_first() else {
        return;
    };
    let setup = Setup::from_byte(control);
    let one = mask_all(format.masker(setup.plan()).as_mut(), doc);
    let chunked = mask_chunked(format.masker(setup.plan()).as_mut(), &setup.chunks(doc));
    match (&one, &chunked) {
        (Ok(a), Ok(b)) => assert!(
            a == b,
            "chunking changed the {format:?} output ({setup:?}):\n{}\n{}",
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b)
        ),
        (Err(_), Err(_)) => {}
        _ => panic!("chunking changed the {format:?} verdict ({setup:?}): {one:?} vs {chunked:?}"),
    }
    check_warm(&|p| format.masker(p), &setup, doc, &one);
    if let (Ok(out), "admin") = (&one, setup.role) {
        assert!(out == doc, "admin {format:?} output differs from the input");
    }
}

/// Config loader: any text as `veil.yaml` is parsed and validated or refused; it never
/// panics.
pub fn check_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(cfg) = serde_yaml_ng::from_str::<veil::server::config::Config>(&text) {
        let _ = cfg.validate(None);
        let _ = cfg.upstream_settings();
    }
}

/// Rule compiler: any text as a rule file, alone or beside the shipped files (first byte
/// odd), compiles or is refused with diagnostics; it never panics.
pub fn check_rules(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let mut sources = if control & 1 == 1 {
        shipped_sources()
    } else {
        Vec::new()
    };
    sources.push(Source {
        path: PathBuf::from("fuzz.yaml"),
        text,
    });
    if let Ok((set, _warnings)) = veil::rules::compile::compile_sources(&sources, Vec::new()) {
        // A compiled set must be usable: plan every route for every role, and mask a little.
        let keys = &shared().keys;
        for route in set.routes.iter().chain(std::iter::once(&set.fallback)) {
            for role in 0..set.roles.len() {
                let plan = set.plan(route, veil::rules::RoleId(role), keys);
                let _ = mask_all(
                    &mut JsonMasker::new(plan.clone()),
                    br#"{"a":"+55 11 98765-4321","b":[1,"x@example.com"]}"#,
                );
                let _ = mask_all(&mut TextMasker::new(plan), b"call +49 1512 3456789");
            }
        }
    }
}

/// Keys: parsing any text as a key file and detokenizing any text never panic; a parsed
/// ring detokenizes what it tokenizes.
pub fn check_keys(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = shared().keys.detokenize(&text);
    if let Ok(ring) = KeyRing::parse(&text) {
        let _ = ring.detokenize(&text);
        let mut token = String::new();
        ring.tokenize("phone", "+5511987654321", &mut token);
        assert_eq!(
            ring.detokenize(&token),
            Some(("phone".to_owned(), "+5511987654321".to_owned()))
        );
    }
}

/// Request side: the first byte picks the place (0 query, 1 form, 2 JSON) and the route;
/// `@T` in the rest stands for a real phone token, `@E` for an e-mail token (a kind the
/// agent may not turn back). Whatever the bytes: no panic; nothing changes unless a token
/// turned back; a JSON body stays JSON; the e-mail never appears; the phone appears only
/// as many times as tokens turned back (plus what the input held in the clear).
pub fn check_request(data: &[u8]) {
    use veil::proxy::detokenize::{Detokenizer, TurnResult};
    const PHONE: &str = "+5511987654321";
    const EMAIL: &str = "maria.silva@example.com";
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let s = shared();
    let mut phone = String::new();
    s.keys.tokenize("phone", PHONE, &mut phone);
    let mut email = String::new();
    s.keys.tokenize("email", EMAIL, &mut email);
    let input = String::from_utf8_lossy(rest)
        .replace("@T", &phone)
        .replace("@E", &email);
    let (route, place) = match control % 3 {
        0 => ("/api/v1/accounts/1/contacts/search", 0),
        1 => ("/api/v1/accounts/1/conversations", 1),
        _ => ("/api/v1/accounts/1/contacts/filter", 2),
    };
    let method = if place == 0 { "GET" } else { "POST" };
    let route = s.set.route_for(method, route, false);
    let role = s.set.role("agent").expect("the agent role");
    let mut d = Detokenizer::new(
        &s.keys,
        &s.set.kinds,
        s.set.role_grants(role),
        &route.detokenize,
    );
    let out: Option<String> = match place {
        0 => {
            let pq = format!("{}?{input}", route.path_glob.replace('*', "1"));
            let out = d.path_and_query(&pq).into_owned();
            (out != pq).then_some(out)
        }
        1 => d
            .form(input.as_bytes())
            .ok()
            .flatten()
            .map(|b| String::from_utf8(b).expect("a form stays UTF-8")),
        _ => d
            .json(input.as_bytes())
            .ok()
            .flatten()
            .map(|b| String::from_utf8(b).expect("JSON stays UTF-8")),
    };
    let ok = d
        .turned
        .iter()
        .filter(|t| t.result == TurnResult::Ok)
        .count();
    assert!(
        d.turned
            .iter()
            .all(|t| t.result != TurnResult::Ok || t.kind == "phone"),
        "{:?}",
        d.turned
    );
    let Some(out) = out else {
        return;
    };
    assert!(
        ok > 0,
        "changed without a token turned back: {input:?} -> {out:?}"
    );
    // The e-mail token never turns back: the address appears only where the input itself
    // wrote it in the clear.
    let written = String::from_utf8_lossy(rest).matches(EMAIL).count();
    assert!(out.matches(EMAIL).count() <= written, "{out}");
    if place == 2 {
        serde_json::from_str::<serde_json::Value>(&out).expect("a JSON body stays JSON");
        let clear = out.matches(PHONE).count();
        assert!(
            clear <= ok + input.matches(PHONE).count(),
            "{input:?} -> {out:?}"
        );
    }
}

/// Request paths: what veil normalizes is normalized for good (idempotent), and routes as
/// the path the upstream would read: every escape decoded, `//` squeezed, dot segments
/// resolved (Rails behind nginx). What veil refuses is what that reading cannot agree on.
pub fn check_path(data: &[u8]) {
    use veil::proxy::path::normalize;
    let raw = format!("/{}", String::from_utf8_lossy(data));
    let Ok(n) = normalize(&raw) else {
        return;
    };
    assert_eq!(normalize(&n).as_deref(), Ok(&*n), "not idempotent: {raw:?}");
    // The upstream's reading, the plain way.
    let decoded = percent_decode_all(&raw);
    let mut segs: Vec<&str> = Vec::new();
    for s in decoded.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let upstream = format!("/{}", segs.join("/"));
    let s = shared();
    for method in ["GET", "POST"] {
        for ws in [false, true] {
            let ours = &s.set.route_for(method, &n, ws).name;
            let theirs = &s.set.route_for(method, &upstream, ws).name;
            assert_eq!(ours, theirs, "{raw:?}: veil {n:?} vs upstream {upstream:?}");
        }
    }
}

fn percent_decode_all(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Codecs: the first byte picks the coding (gzip, deflate, br, zstd, identity) and how the
/// rest is split. Decoding any bytes never panics and never grows without bound per input
/// byte beyond the decoder's slices; what veil encodes decodes back to the same bytes,
/// however it is chunked and flushed.
pub fn check_codec(data: &[u8]) {
    use veil::proxy::codec::{Coding, Decoder, Encoder};
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let codings = [
        Coding::Gzip,
        Coding::Deflate,
        Coding::Br,
        Coding::Zstd,
        Coding::Identity,
    ];
    let coding = codings[usize::from(control) % codings.len()];
    let chunk = 1 + usize::from(control / 5) % 97;
    // Arbitrary bytes as an encoded body: an error or some output, never a panic.
    let mut d = Decoder::new(coding).expect("a decoder");
    let mut decoded = 0usize;
    let mut sink = |b: &[u8]| {
        decoded += b.len();
        Ok(())
    };
    let ok = rest
        .chunks(chunk)
        .try_for_each(|c| d.push(c, &mut sink))
        .is_ok();
    if ok {
        let _ = d.finish(&mut sink);
    }
    // Round trip: encode in chunks with a flush after each, decode in other chunks.
    let mut e = Encoder::new(coding).expect("an encoder");
    let mut wire = Vec::new();
    for c in rest.chunks(chunk) {
        e.write(c).expect("encoding never fails");
        e.flush_into(&mut wire).expect("flush");
    }
    e.finish_into(&mut wire).expect("finish");
    let mut d = Decoder::new(coding).expect("a decoder");
    let mut back = Vec::new();
    let mut sink = |b: &[u8]| {
        back.extend_from_slice(b);
        Ok(())
    };
    for c in wire.chunks(chunk + 3) {
        d.push(c, &mut sink).expect("veil's own encoding decodes");
    }
    d.finish(&mut sink).expect("veil's own encoding ends well");
    assert!(back == rest, "{coding:?} round trip changed the body");
}

/// `@P`, `@E`, `@U` in `v` replaced by a phone, an e-mail and a percent-encoded e-mail
/// where they stand apart (a value glued to a letter or digit is another word, which the
/// detectors rightly leave: `98765-4321c`); elsewhere by `x`.
fn plant(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 32);
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let marker = (b[i] == b'@' && i + 1 < b.len())
            .then(|| match b[i + 1] {
                b'P' => Some(PHONE),
                b'E' => Some(EMAIL),
                b'U' => Some("maria.silva%40example.com"),
                _ => None,
            })
            .flatten();
        let Some(value) = marker else {
            let c = v[i..].chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
            continue;
        };
        let apart =
            |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() && !"._%+-@".contains(c));
        if apart(out.chars().last()) && apart(v[i + 2..].chars().next()) {
            out.push_str(value);
        } else {
            out.push('x');
        }
        i += 2;
    }
    out
}

const PHONE: &str = "+55 11 98765-4321";
const EMAIL: &str = "maria.silva@example.com";

/// Response headers: any bytes as header values (one per line, `name: value`) are masked
/// for the agent without a panic; a phone number or e-mail planted in any header value
/// veil masks (all but the protocol's structural ones, `headers::STRUCTURAL`), raw or
/// percent-encoded, is gone after masking; structural headers stay as they were.
pub fn check_headers(data: &[u8]) {
    use http::{HeaderMap, HeaderName, HeaderValue};
    use veil::engine::format::text::ValueMasker;
    let text = String::from_utf8_lossy(data);
    let mut headers = HeaderMap::new();
    let mut planted = Vec::new();
    for (i, line) in text.lines().take(32).enumerate() {
        let (name, value) = line.split_once(':').unwrap_or(("x-fuzz", line));
        let Ok(name) = HeaderName::from_bytes(name.trim().as_bytes()) else {
            continue;
        };
        let value = plant(value.trim());
        let Ok(v) = HeaderValue::from_str(&value) else {
            continue;
        };
        if value.contains(PHONE) || value.contains(EMAIL) || value.contains("%40example") {
            planted.push((i, name.clone()));
        }
        headers.append(name, v);
    }
    let before = headers.clone();
    let setup = Setup::from_byte(0);
    let mut values = ValueMasker::new(setup.plan_for("agent"));
    veil::proxy::headers::mask_response_headers(&mut headers, &mut values);
    let structural = |n: &http::HeaderName| veil::proxy::headers::STRUCTURAL.contains(&n.as_str());
    // What was planted must be gone; the same text written by the fuzzer itself may stay
    // (glued to a word, it is rightly not a value), so it is counted, not forbidden.
    for needle in ["98765-4321", EMAIL, "maria.silva%40"] {
        let written = text.matches(needle).count();
        let left: usize = headers
            .iter()
            .filter(|(n, _)| !structural(n))
            .map(|(_, v)| {
                String::from_utf8_lossy(v.as_bytes())
                    .matches(needle)
                    .count()
            })
            .sum();
        assert!(
            left <= written,
            "{needle}: {left} left, {written} written by the input ({planted:?}): {headers:?}"
        );
    }
    for (name, value) in before.iter().filter(|(n, _)| structural(n)) {
        assert!(
            headers.get_all(name).iter().any(|v| v == value),
            "{name} changed"
        );
    }
}
