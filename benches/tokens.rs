//! Tokenize and detokenize operations per second, beside an HMAC-only baseline (the cost
//! of the `hash` action), measured in the same run: phones (compact FF1 tokens) and
//! e-mails (AES-SIV).
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use veil::engine::token::KeyRing;

const KEYS: &str = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn tokens(c: &mut Criterion) {
    let ring = KeyRing::parse(KEYS).unwrap();
    let phones: Vec<String> = (0..1000)
        .map(|i| format!("+55119{:08}", 10_000_000 + i * 7919))
        .collect();
    let mut tokens = Vec::new();
    for p in &phones {
        let mut t = String::new();
        ring.tokenize("phone", p, &mut t);
        tokens.push(t);
    }
    let emails: Vec<String> = (0..1000)
        .map(|i| format!("cliente.{i}@example.com"))
        .collect();
    let mut email_tokens = Vec::new();
    for e in &emails {
        let mut t = String::new();
        ring.tokenize("email", e, &mut t);
        email_tokens.push(t);
    }
    let mut g = c.benchmark_group("tokens");
    g.throughput(Throughput::Elements(phones.len() as u64));
    let mut out = String::with_capacity(128);
    g.bench_function("baseline_hmac_hash", |b| {
        b.iter(|| {
            for p in &phones {
                out.clear();
                ring.hash("phone", black_box(p), &mut out);
            }
        })
    });
    g.bench_function("tokenize_phone_ff1", |b| {
        b.iter(|| {
            for p in &phones {
                out.clear();
                ring.tokenize("phone", black_box(p), &mut out);
            }
        })
    });
    g.bench_function("detokenize_phone_ff1", |b| {
        b.iter(|| {
            for t in &tokens {
                black_box(ring.detokenize(black_box(t)));
            }
        })
    });
    g.bench_function("tokenize_email_aes_siv", |b| {
        b.iter(|| {
            for e in &emails {
                out.clear();
                ring.tokenize("email", black_box(e), &mut out);
            }
        })
    });
    g.bench_function("detokenize_email_aes_siv", |b| {
        b.iter(|| {
            for t in &email_tokens {
                black_box(ring.detokenize(black_box(t)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, tokens);
criterion_main!(benches);
