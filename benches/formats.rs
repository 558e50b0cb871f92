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
use veil::engine::plan::MaskPlan;

mod common;
use common::Rng;

const CHUNK: usize = 16 * 1024;
const NAMES: &[&str] = &[
    "Maria Silva",
    "Jürgen Müller",
    "João Gonçalves",
    "Priya Iyer",
    "Dewi Lestari",
];

fn inbox_page(rng: &mut Rng, target: usize) -> String {
    let mut s = String::from("<!DOCTYPE html><html><head><title>Contatos</title><meta charset=\"utf-8\"></head><body><table>\n");
    let mut i = 0;
    while s.len() < target {
        let phone = format!("+55 11 9{}-{}", rng.digits(4), rng.digits(4));
        let email = format!("cliente{i}@example.com");
        s.push_str(&format!(
            "<tr data-id=\"{i}\"><td class=\"name\">{}</td><td><a href=\"tel:{}\">{}</a></td><td><a href=\"mailto:{email}\">{email}</a></td><td>Pedido PED-2025-{i:04} · R$ 1.234,56 · entregue em 20/11/2025</td></tr>\n",
            rng.pick(NAMES),
            phone.replace(' ', ""),
            phone,
        ));
        i += 1;
    }
    s.push_str("</table></body></html>");
    s
}

fn generic_page(rng: &mut Rng, target: usize) -> String {
    let words = [
        "the", "inbox", "support", "order", "delivery", "customer", "team", "weekly", "report",
        "update",
    ];
    let mut s = String::from("<!DOCTYPE html><html><head><title>Blog</title></head><body><nav><a href=\"/\">Home</a></nav>\n");
    while s.len() < target {
        s.push_str("<article><h2>");
        for _ in 0..6 {
            s.push_str(rng.pick(&words));
            s.push(' ');
        }
        s.push_str("</h2><p class=\"lead\">");
        for _ in 0..120 {
            s.push_str(rng.pick(&words));
            s.push(' ');
        }
        s.push_str("</p></article>\n");
    }
    s.push_str("</body></html>");
    s
}

fn csv_export(rng: &mut Rng, target: usize) -> String {
    let mut s = String::from("id,name,email,phone_number,identifier,additional_attributes,custom_attributes,created_at\n");
    let mut i = 0;
    while s.len() < target {
        s.push_str(&format!(
            "{i},{},cliente{i}@example.com,+55119{},,\"{{\"\"city\"\" => \"\"São Paulo\"\"}}\",\"{{\"\"plano\"\" => \"\"ouro\"\"}}\",2024-10-16 12:00:00 UTC\n",
            rng.pick(NAMES),
            rng.digits(8)
        ));
        i += 1;
    }
    s
}

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

fn lol_html_no_handlers(doc: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut r = lol_html::HtmlRewriter::new(lol_html::Settings::new(), |c: &[u8]| {
        out.extend_from_slice(c)
    });
    for c in doc.chunks(CHUNK) {
        r.write(c).unwrap();
    }
    r.end().unwrap();
}

/// lol_html with the handlers the HTML masker registers (every element, every text chunk,
/// every comment) doing nothing: what the parser costs once content handlers are on.
fn lol_html_empty_handlers(doc: &[u8], out: &mut Vec<u8>) {
    use lol_html::html_content::{Comment, Element, TextChunk};
    out.clear();
    let settings = lol_html::Settings::new()
        .append_element_content_handler(lol_html::element!("*", |_: &mut Element<'_, '_>| Ok(())))
        .append_document_content_handler(lol_html::doc_text!(|_: &mut TextChunk<'_>| Ok(())))
        .append_document_content_handler(lol_html::doc_comments!(|_: &mut Comment<'_>| Ok(())));
    let mut r = lol_html::HtmlRewriter::new(settings, |c: &[u8]| out.extend_from_slice(c));
    for c in doc.chunks(CHUNK) {
        r.write(c).unwrap();
    }
    r.end().unwrap();
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
