//! The request side: turning tokens back in a 10 KiB JSON request body at the places a
//! route lists (a Chatwoot contact filter), beside what veil did before rules (every
//! token anywhere in the body, by one regex over the text) and a serde_json round trip of
//! the same body (the floor of any rewrite through a DOM), measured in the same run.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use regex::Regex;
use veil::engine::token::{KeyRing, TOKEN_PATTERN};
use veil::proxy::detokenize::Detokenizer;
use veil::rules::RuleSet;

const KEYS: &str = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A contact filter of 40 conditions (phones, e-mails, names), each value a token or a
/// word, about 10 KiB.
fn filter_body(ring: &KeyRing) -> String {
    let mut conditions = Vec::new();
    let mut i = 0u64;
    while serde_json::to_string(&conditions).unwrap().len() < 10 * 1024 - 300 {
        let mut t = String::new();
        ring.tokenize(
            "phone",
            &format!("+55119{:08}", 10_000_000 + i * 7919),
            &mut t,
        );
        let (key, value) = match i % 3 {
            0 => ("phone_number", t),
            1 => ("name", format!("Cliente {i} pedido PED-2025-{i:04}")),
            _ => ("identifier", format!("crm-{i:06}")),
        };
        conditions.push(serde_json::json!({
            "attribute_key": key, "filter_operator": "equal_to", "values": [value],
            "query_operator": "or", "attribute_model": "standard", "custom_attribute_type": ""
        }));
        i += 1;
    }
    serde_json::json!({ "payload": conditions }).to_string()
}

/// What veil did before: every token in the text, wherever it stood.
fn blanket(re: &Regex, ring: &KeyRing, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in re.find_iter(text) {
        if let Some((_, value)) = ring.detokenize(m.as_str()) {
            out.push_str(&text[last..m.start()]);
            out.push_str(&value);
            last = m.end();
        }
    }
    out.push_str(&text[last..]);
    out
}

fn request(c: &mut Criterion) {
    let ring = KeyRing::parse(KEYS).unwrap();
    let (rules, _): (RuleSet, _) =
        veil::rules::compile::compile_sources(&veil::rules::embedded::sources(), Vec::new())
            .expect("the shipped rules compile");
    let body = filter_body(&ring);
    let route = rules.route_for("POST", "/api/v1/accounts/1/contacts/filter", false);
    let unlisted = rules.route_for(
        "POST",
        "/api/v1/accounts/1/conversations/1/messages/x",
        false,
    );
    let agent = rules.role("agent").unwrap();
    let grants = rules.role_grants(agent);
    let re = Regex::new(TOKEN_PATTERN).unwrap();

    let mut g = c.benchmark_group("request_json_10k");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("baseline_serde_round_trip", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(body.as_bytes())).unwrap();
            black_box(serde_json::to_vec(&v).unwrap())
        })
    });
    g.bench_function("before_blanket_every_token", |b| {
        b.iter(|| black_box(blanket(&re, &ring, black_box(&body))))
    });
    g.bench_function("by_rule_listed_paths", |b| {
        b.iter(|| {
            let mut d = Detokenizer::new(&ring, &rules.kinds, grants, &route.detokenize);
            black_box(d.json(black_box(body.as_bytes())).unwrap())
        })
    });
    g.bench_function("by_rule_route_lists_nothing", |b| {
        b.iter(|| {
            let d = Detokenizer::new(&ring, &rules.kinds, grants, &unlisted.detokenize);
            // The proxy streams the body without reading it.
            black_box(d.reads_body())
        })
    });
    g.finish();
}

criterion_group!(benches, request);
criterion_main!(benches);
