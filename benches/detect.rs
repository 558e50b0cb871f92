//! Detectors and the text masker on chat text (Portuguese, English, German; about one line
//! in twenty with a phone number or an e-mail address), beside a copy of the same bytes
//! measured in the same run.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use veil::engine::format::text::TextMasker;
use veil::engine::{mask_all, Masker};

mod common;

fn detect(c: &mut Criterion) {
    let lines = common::chat_text(256 * 1024, 7);
    let text = lines.join("\n");
    let bytes = text.len() as u64;
    let plan = common::plan("/no/route/matches", "agent");

    let mut g = c.benchmark_group("chat-text");
    g.throughput(Throughput::Bytes(bytes));
    let mut buf = Vec::with_capacity(text.len());
    g.bench_function("baseline-copy", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(black_box(text.as_bytes()));
            black_box(buf.len())
        })
    });
    let mut findings = Vec::new();
    g.bench_function("detectors-scan-per-line", |b| {
        b.iter(|| {
            let mut n = 0;
            for l in &lines {
                findings.clear();
                plan.detectors()
                    .scan(black_box(l), 0, plan.scan(), &mut findings);
                n += findings.len();
            }
            black_box(n)
        })
    });
    let mut out = Vec::with_capacity(text.len() * 2);
    g.bench_function("text-masker-16k-chunks", |b| {
        b.iter(|| {
            out.clear();
            let mut m = TextMasker::new(plan.clone());
            for chunk in text.as_bytes().chunks(16 * 1024) {
                m.push(chunk, &mut out).unwrap();
            }
            m.finish(&mut out).unwrap();
            black_box(out.len())
        })
    });
    g.bench_function("text-masker-per-line", |b| {
        b.iter(|| {
            let mut n = 0;
            for l in &lines {
                n += mask_all(&mut TextMasker::new(plan.clone()), l.as_bytes())
                    .unwrap()
                    .len();
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, detect);
criterion_main!(benches);
