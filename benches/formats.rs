//! The HTML and CSV maskers (16 KiB chunks, role `agent`), each beside baselines measured in
//! the same run: copying the bytes, and, for HTML, lol_html rewriting with no handlers
//! (the cost of the HTML parser alone) and with the masker's handlers doing nothing (the
//! parser's cost once every element, text chunk and comment is handed out: the floor for a
//! masker on lol_html).
//!
//! * `html/inbox`: a ~100 KB server-rendered inbox page (contacts table with `tel:` and
//!   `mailto:` links, names, messages), about one PII value per 150 bytes;
//! * `html/generic`: a ~1 MB generic page (articles, navigation), almost no PII;
//! * `csv/export`: a ~1 MB contacts export.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use veil::engine::format::Format;
use veil::engine::vocab::plan::MaskPlan;

mod common;
use common::docs::{csv_export, generic_page, inbox_page};
use common::Rng;
use common::{lol_html_empty_handlers, lol_html_no_handlers, lol_html_page_changes_only};

const CHUNK: usize = 16 * 1024;
/// Cold: the per-thread caches (number verdicts, tokens) are cleared first, so every
/// number of the document is parsed by libphonenumber and every value tokenized once.
fn mask(format: Format, plan: &MaskPlan, doc: &[u8], out: &mut Vec<u8>) {
    veil::engine::clear_thread_caches();
    mask_warm(format, plan, doc, out);
}

/// Warm: the same document again, as when agents reload the same page or export.
fn mask_warm(format: Format, plan: &MaskPlan, doc: &[u8], out: &mut Vec<u8>) {
    let mut m = format.masker(plan.clone());
    out.clear();
    for c in doc.chunks(CHUNK) {
        m.push(c, out).unwrap();
    }
    m.finish(out).unwrap();
}

fn formats(c: &mut Criterion) {
    let mut rng = Rng::new(42);
    let inbox = inbox_page(&mut rng, 100 * 1024);
    let generic = generic_page(&mut rng, 1 << 20);
    let csv = csv_export(&mut rng, 1 << 20);
    let html_plan = common::plan("/app/accounts/1/contacts", "agent");
    let csv_plan = common::plan("/rails/active_storage/disk/x/contacts.csv", "agent");
    let mut out = Vec::with_capacity(2 << 20);
    for (name, doc) in [("inbox", &inbox), ("generic", &generic)] {
        let mut g = c.benchmark_group(format!("html/{name}"));
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.bench_function("baseline-copy", |b| {
            b.iter(|| {
                out.clear();
                out.extend_from_slice(black_box(doc.as_bytes()));
            })
        });
        g.bench_function("baseline-lol_html-no-handlers", |b| {
            b.iter(|| lol_html_no_handlers(black_box(doc.as_bytes()), &mut out))
        });
        g.bench_function("baseline-lol_html-empty-handlers", |b| {
            b.iter(|| lol_html_empty_handlers(black_box(doc.as_bytes()), &mut out))
        });
        if name == "inbox" {
            g.bench_function("baseline-lol_html-page-changes-only", |b| {
                b.iter(|| lol_html_page_changes_only(black_box(doc.as_bytes()), &mut out))
            });
        }
        g.bench_function("veil-agent", |b| {
            b.iter(|| {
                mask(
                    Format::Html,
                    &html_plan,
                    black_box(doc.as_bytes()),
                    &mut out,
                )
            })
        });
        g.bench_function("veil-agent-warm", |b| {
            b.iter(|| {
                mask_warm(
                    Format::Html,
                    &html_plan,
                    black_box(doc.as_bytes()),
                    &mut out,
                )
            })
        });
        g.finish();
    }
    let mut g = c.benchmark_group("csv/export");
    g.throughput(Throughput::Bytes(csv.len() as u64));
    g.bench_function("baseline-copy", |b| {
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(csv.as_bytes()));
        })
    });
    g.bench_function("veil-agent", |b| {
        b.iter(|| mask(Format::Csv, &csv_plan, black_box(csv.as_bytes()), &mut out))
    });
    g.bench_function("veil-agent-warm", |b| {
        b.iter(|| mask_warm(Format::Csv, &csv_plan, black_box(csv.as_bytes()), &mut out))
    });
    g.finish();
}

criterion_group!(benches, formats);
criterion_main!(benches);
