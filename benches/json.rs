//! The streaming JSON masker (16 KiB chunks, role `agent`) on three generated documents,
//! each beside two baselines measured in the same run: copying the bytes, and a
//! `serde_json` parse to `Value` and back.
//!
//! * `chatwoot`: ~1 MB of a Chatwoot contacts list and conversations list (the shapes of
//!   `GET /api/v1/accounts/1/contacts` and `…/conversations`), about one PII value per
//!   200 bytes;
//! * `sparse`: long chat messages, almost no PII;
//! * `dense`: a twitter.json-like document: many short strings, numbers and literals.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::Value;
use veil::engine::format::json::JsonMasker;
use veil::engine::vocab::plan::MaskPlan;
use veil::engine::Masker;

mod common;
use common::docs::{chatwoot, dense, sparse};

const CHUNK: usize = 16 * 1024;
fn mask_chunked(plan: &MaskPlan, doc: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut m = JsonMasker::new(plan.clone());
    for chunk in doc.chunks(CHUNK) {
        m.push(chunk, out).unwrap();
    }
    m.finish(out).unwrap();
}

fn json(c: &mut Criterion) {
    let agent = common::plan("/api/v1/accounts/1/conversations", "agent");
    let admin = common::plan("/api/v1/accounts/1/conversations", "admin");
    let docs = [
        ("chatwoot", chatwoot()),
        ("sparse", sparse()),
        ("dense", dense()),
    ];
    let mut g = c.benchmark_group("json");
    let mut out = Vec::with_capacity(4 << 20);
    for (name, doc) in &docs {
        mask_chunked(&agent, doc, &mut out);
        serde_json::from_slice::<Value>(&out).expect("masked output is JSON");
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.bench_with_input(BenchmarkId::new("baseline-copy", name), doc, |b, doc| {
            b.iter(|| {
                out.clear();
                out.extend_from_slice(black_box(doc));
                black_box(out.len())
            })
        });
        g.bench_with_input(
            BenchmarkId::new("baseline-serde-roundtrip", name),
            doc,
            |b, doc| {
                b.iter(|| {
                    let v: Value = serde_json::from_slice(black_box(doc)).unwrap();
                    black_box(serde_json::to_vec(&v).unwrap().len())
                })
            },
        );
        // Cold: every number of the document goes through libphonenumber and every value is
        // tokenized once, as for a document never seen before (the per-thread verdict and
        // token caches are cleared first).
        g.bench_with_input(BenchmarkId::new("veil-agent", name), doc, |b, doc| {
            b.iter(|| {
                veil::engine::clear_thread_caches();
                mask_chunked(&agent, black_box(doc), &mut out);
                black_box(out.len())
            })
        });
        // Warm: the same contacts again (many agents loading the same lists).
        g.bench_with_input(BenchmarkId::new("veil-agent-warm", name), doc, |b, doc| {
            b.iter(|| {
                mask_chunked(&agent, black_box(doc), &mut out);
                black_box(out.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("veil-admin", name), doc, |b, doc| {
            b.iter(|| {
                mask_chunked(&admin, black_box(doc), &mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, json);
criterion_main!(benches);
