//! Interleaved ratios: each masker beside its baselines, measured in alternation (baseline,
//! veil cold, veil warm, …, then again) so that a shared machine whose speed drifts from
//! one minute to the next slows every contender alike. Criterion (benches/json.rs,
//! formats.rs) measures one contender after the other, and on a shared VM their ratios
//! then move by tens of percent between runs.
//!
//! Prints, per document, each contender's median time over the rounds, its throughput,
//! and the median of its per-round ratio to the document's baseline. The last column
//! projects throughput onto the reference machine of docs/benchmarks.md (sessions 1-3: a
//! shared AMD EPYC) by the baseline's speed there, so that absolute targets can be read on
//! another machine: a projection, not a measurement.
//!
//! `cargo bench --bench ratios [-- ROUNDS [NAME]]` (default 30 rounds; NAME: run only the
//! documents whose name contains it, e.g. `html`).
use std::hint::black_box;
use std::time::{Duration, Instant};
use veil::engine::format::Format;
use veil::engine::vocab::plan::MaskPlan;

mod common;
use common::docs::{chatwoot, csv_export, dense, inbox_page, sparse};
use common::{lol_html_empty_handlers, lol_html_no_handlers, lol_html_page_changes_only, Rng};

const CHUNK: usize = 16 * 1024;
/// Baselines on the reference machine (MiB/s, docs/benchmarks.md, session 3): the
/// serde_json round trip of the chatwoot, sparse and dense documents, lol_html with no
/// handlers on the inbox page.
const REF_SERDE_CHATWOOT: f64 = 178.0;
const REF_SERDE_SPARSE: f64 = 1087.0;
const REF_SERDE_DENSE: f64 = 217.0;
const REF_LOL_HTML: f64 = 1050.0;

type Run<'a> = Box<dyn FnMut(&mut Vec<u8>) + 'a>;

fn mask(format: Format, plan: &MaskPlan, doc: &[u8], out: &mut Vec<u8>) {
    let mut m = format.masker(plan.clone());
    out.clear();
    for c in doc.chunks(CHUNK) {
        m.push(c, out).unwrap();
    }
    m.finish(out).unwrap();
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs the contenders in alternation; returns each one's per-round times.
fn interleave(contenders: &mut [(&str, Run<'_>)], rounds: usize) -> Vec<Vec<f64>> {
    let mut out = Vec::with_capacity(4 << 20);
    let mut times = vec![Vec::with_capacity(rounds); contenders.len()];
    // One pass each first: the warm contenders' caches, the allocator, the page cache.
    for (_, run) in contenders.iter_mut() {
        run(&mut out);
    }
    for _ in 0..rounds {
        for (i, (_, run)) in contenders.iter_mut().enumerate() {
            // Short passes are repeated up to ~2 ms so the clock's resolution does not matter.
            let start = Instant::now();
            let mut n = 0u32;
            while n == 0 || start.elapsed() < Duration::from_millis(2) {
                run(&mut out);
                black_box(out.len());
                n += 1;
            }
            times[i].push(start.elapsed().as_secs_f64() / f64::from(n));
        }
    }
    times
}

/// veil's two contenders on `doc` for the `agent` plan: every per-thread cache cleared
/// before each pass (cold), and kept from the pass before (warm).
fn veil_agent<'a>(
    format: Format,
    plan: &'a MaskPlan,
    doc: &'a [u8],
) -> [(&'static str, Run<'a>); 2] {
    [
        (
            "veil agent cold",
            Box::new(move |o| {
                veil::engine::clear_thread_caches();
                mask(format, plan, doc, o)
            }),
        ),
        (
            "veil agent warm",
            Box::new(move |o| mask(format, plan, doc, o)),
        ),
    ]
}

/// Runs `contenders` in alternation and prints their table (see [`report`]).
fn measure(
    doc: &str,
    len: usize,
    mut contenders: Vec<(&str, Run<'_>)>,
    rounds: usize,
    reference: f64,
    base_len: usize,
) {
    let names: Vec<&str> = contenders.iter().map(|(n, _)| *n).collect();
    let times = interleave(&mut contenders, rounds);
    report(doc, len, &names, &times, reference, base_len);
}

/// `reference`: the baseline's MiB/s on the reference machine; `base_len`: its input's
/// length (the baseline may run on another document: CSV is calibrated by serde_json).
fn report(
    doc: &str,
    len: usize,
    names: &[&str],
    times: &[Vec<f64>],
    reference: f64,
    base_len: usize,
) {
    println!("\n{doc} ({} KiB)", len / 1024);
    println!(
        "| contender | median ms | MiB/s | × baseline (median of rounds) | MiB/s on the reference machine |"
    );
    println!("|---|---|---|---|---|");
    let mib = len as f64 / (1 << 20) as f64;
    let mut base = times[0].clone();
    let machine = reference / (base_len as f64 / (1 << 20) as f64 / median(&mut base));
    for (i, name) in names.iter().enumerate() {
        let mut t = times[i].clone();
        let m = median(&mut t);
        let mib = if i == 0 {
            base_len as f64 / (1 << 20) as f64
        } else {
            mib
        };
        let mut ratios: Vec<f64> = times[0].iter().zip(&times[i]).map(|(b, v)| b / v).collect();
        println!(
            "| {name} | {:.3} | {:.0} | {:.2} | {:.0} |",
            m * 1e3,
            mib / m,
            median(&mut ratios),
            mib / m * machine
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = args.iter().find_map(|a| a.parse().ok()).unwrap_or(30);
    let filter = args
        .iter()
        .find(|a| !a.starts_with('-') && a.parse::<usize>().is_err());
    let wanted = |doc: &str| filter.is_none_or(|f| doc.contains(f.as_str()));
    let agent = common::plan("/api/v1/accounts/1/conversations", "agent");
    let admin = common::plan("/api/v1/accounts/1/conversations", "admin");
    let serde_roundtrip = |doc: &[u8], out: &mut Vec<u8>| {
        let v: serde_json::Value = serde_json::from_slice(black_box(doc)).unwrap();
        *out = serde_json::to_vec(&v).unwrap();
    };

    println!("# interleaved ratios, {rounds} rounds");
    let cw = chatwoot();
    for (name, doc, reference) in [
        ("json/chatwoot", cw.clone(), REF_SERDE_CHATWOOT),
        ("json/sparse", sparse(), REF_SERDE_SPARSE),
        ("json/dense", dense(), REF_SERDE_DENSE),
    ] {
        if !wanted(name) {
            continue;
        }
        let d = &doc;
        let mut c: Vec<(&str, Run<'_>)> = vec![(
            "serde_json round trip (baseline)",
            Box::new(move |o| serde_roundtrip(d, o)),
        )];
        c.extend(veil_agent(Format::Json, &agent, d));
        c.push(("veil admin", Box::new(|o| mask(Format::Json, &admin, d, o))));
        measure(name, doc.len(), c, rounds, reference, doc.len());
    }

    let mut rng = Rng::new(42);
    let inbox = inbox_page(&mut rng, 100 * 1024);
    if wanted("html/inbox") {
        let html_plan = common::plan("/app/accounts/1/contacts", "agent");
        let d = inbox.as_bytes();
        let mut c: Vec<(&str, Run<'_>)> = vec![
            (
                "lol_html, no handlers (baseline)",
                Box::new(|o| lol_html_no_handlers(d, o)),
            ),
            (
                "lol_html, empty handlers",
                Box::new(|o| lol_html_empty_handlers(d, o)),
            ),
            (
                "lol_html, the page's changes, no detection",
                Box::new(|o| lol_html_page_changes_only(d, o)),
            ),
        ];
        c.extend(veil_agent(Format::Html, &html_plan, d));
        measure("html/inbox", d.len(), c, rounds, REF_LOL_HTML, d.len());
    }

    let _generic = common::docs::generic_page(&mut rng, 1 << 20);
    let csv = csv_export(&mut rng, 1 << 20);
    if !wanted("csv/export") {
        return;
    }
    let csv_plan = common::plan("/rails/active_storage/disk/x/contacts.csv", "agent");
    let d = csv.as_bytes();
    let mut c: Vec<(&str, Run<'_>)> = vec![(
        "serde_json round trip of json/chatwoot (calibration)",
        Box::new(|o| serde_roundtrip(&cw, o)),
    )];
    c.extend(veil_agent(Format::Csv, &csv_plan, d));
    measure(
        "csv/export",
        d.len(),
        c,
        rounds,
        REF_SERDE_CHATWOOT,
        cw.len(),
    );
}
