//! The streaming CSV masker, on [csv_core].
//!
//! Works record by record. csv-core finds where a record ends (quoted fields may hold
//! delimiters, `""` and line breaks, so a record can span lines and network chunks) and
//! decodes its fields; the masker keeps the record's raw bytes alongside.
//!
//! * The first record is the header. Field rules (`csv:` in a route) name columns by header,
//!   compared case-insensitively after trimming: the cells of such a column are masked as the
//!   rule's kind whatever they look like (`ignore`: left alone). Every other cell, header
//!   cells included, goes through the route's detectors.
//! * A record with no change is copied byte for byte (quoting, `\n` or `\r\n`, blank lines).
//!   In a changed record only the changed cells are rewritten, quoted if they hold the
//!   delimiter, a quote, CR or LF; the other cells keep their raw bytes.
//! * A UTF-8 byte order mark at the start is copied through and not part of the first
//!   header name. Cells that are not UTF-8 are scanned with the bad bytes read as U+FFFD;
//!   if such a cell changes, it is written from that reading.
//!
//! # What is buffered, when output lags
//! One record: its raw bytes and its decoded fields, each capped at
//! [`Limits::max_value`](crate::vocab::plan::Limits) ([`MaskError::CapExceeded`] past it). A record
//! is emitted when its terminator has been read, so output lags input by one record (the last
//! one, without a terminator, at [`Masker::finish`]).
//!
//! # Failure modes
//! Over the cap: an error, and the masker is poisoned. csv-core accepts any bytes (a stray
//! quote is read leniently, as the csv crate does), so there is no "malformed" error; a record
//! whose raw bytes cannot be split the way csv-core read them is written whole from its
//! decoded fields when it changes.
use crate::cache::spans::{self, ReplayCtx, Span};
use crate::fields::FieldTarget;
use crate::format::budget::{bytes_of, Budget};
use crate::format::text::ValueMasker;
use crate::vocab::counts::MatchCounts;
use crate::vocab::plan::MaskPlan;
use crate::{FormatSteps, MaskError};
use csv_core::{ReadRecordResult, Reader, ReaderBuilder};
use std::borrow::Cow;

const BOM: &[u8] = b"\xef\xbb\xbf";

/// The streaming CSV masker. See the module docs.
#[derive(Debug)]
pub struct CsvMasker {
    values: ValueMasker,
    passthrough: bool,
    delimiter: u8,
    rdr: Reader,
    /// The first bytes of the document, held until a byte order mark can be ruled out.
    head: Vec<u8>,
    started: bool,
    /// Raw bytes of the current record (csv-core consumed them).
    raw: Vec<u8>,
    /// Decoded fields of the current record and their end offsets.
    fields: Vec<u8>,
    flen: usize,
    ends: Vec<usize>,
    elen: usize,
    /// Column targets, from the header.
    columns: Option<Vec<Option<FieldTarget>>>,
    spans: Vec<(usize, usize)>,
    /// Changed cells of the current record: (index, start, end of the replacement in `line`).
    changed: Vec<(usize, usize, usize)>,
    cell: String,
    line: Vec<u8>,
    /// The context of records in the span cache ([`replay`]); `None` for a role that sees
    /// everything.
    replay: Option<ReplayCtx>,
    /// The records' place for [`replay`]: the delimiter and the column targets.
    place: Vec<u8>,
    /// Scratch: counts before a record, and what it found.
    snap: Vec<u32>,
    found: Vec<(crate::vocab::kind::KindId, bool, u32)>,
    poisoned: bool,
}

/// Shortest record looked up in the span cache: below it, masking is about as cheap.
const REPLAY_MIN: usize = 32;

impl CsvMasker {
    /// A comma-separated masker.
    pub fn new(plan: MaskPlan) -> Self {
        Self::with_delimiter(plan, b',')
    }

    /// A masker for another delimiter (`b'\t'` for tab-separated values).
    pub fn with_delimiter(plan: MaskPlan, delimiter: u8) -> Self {
        let passthrough = plan.is_passthrough();
        let values = ValueMasker::new(plan);
        CsvMasker {
            replay: (!passthrough).then(|| ReplayCtx::new(values.scope(), Span::CsvRecord)),
            place: Vec::new(),
            snap: Vec::new(),
            found: Vec::new(),
            values,
            passthrough,
            delimiter,
            rdr: ReaderBuilder::new().delimiter(delimiter).build(),
            head: Vec::new(),
            started: false,
            raw: Vec::new(),
            fields: vec![0; 1024],
            flen: 0,
            ends: vec![0; 64],
            elen: 0,
            columns: None,
            spans: Vec::new(),
            changed: Vec::new(),
            cell: String::new(),
            line: Vec::new(),
            poisoned: false,
        }
    }

    /// What was masked and what was served clear so far.
    pub fn counts(&self) -> &MatchCounts {
        &self.values.counts
    }

    fn cap(&self) -> MaskError {
        MaskError::CapExceeded {
            cap: crate::Cap::CsvRecord,
            limit: self.values.plan().limits().max_value,
        }
    }

    /// Feeds bytes to csv-core; emits each record as it completes. Empty `input` means the end.
    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        let cap = self.values.plan().limits().max_value;
        let at_end = input.is_empty();
        loop {
            let (res, nin, nout, nend) = self.rdr.read_record(
                input,
                &mut self.fields[self.flen..],
                &mut self.ends[self.elen..],
            );
            self.raw.extend_from_slice(&input[..nin]);
            input = &input[nin..];
            self.flen += nout;
            self.elen += nend;
            if self.raw.len() > cap {
                return Err(self.cap());
            }
            match res {
                ReadRecordResult::InputEmpty => {
                    if !at_end {
                        return Ok(());
                    }
                }
                ReadRecordResult::OutputFull => {
                    if self.fields.len() > cap {
                        return Err(self.cap());
                    }
                    let n = self.fields.len() * 2;
                    self.fields.resize(n, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                ReadRecordResult::Record => {
                    self.record(out);
                    self.raw.clear();
                    self.flen = 0;
                    self.elen = 0;
                }
                ReadRecordResult::End => {
                    out.extend_from_slice(&self.raw);
                    self.raw.clear();
                    return Ok(());
                }
            }
        }
    }

    fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.fields[start..self.ends[i]]
    }

    /// A complete record: mask its cells, emit it.
    fn record(&mut self, out: &mut Vec<u8>) {
        let n = self.elen;
        if self.columns.is_none() {
            let rules = &self.values.plan().fields().csv_columns;
            let cols = (0..n)
                .map(|i| {
                    let name = String::from_utf8_lossy(self.field(i));
                    let name = name.trim();
                    rules
                        .iter()
                        .find(|(c, _)| c.trim().eq_ignore_ascii_case(name))
                        .map(|(_, t)| *t)
                })
                .collect();
            // The header's own cells are scanned like any other (no rule applies to them).
            self.emit(out, n, &vec![None; n]);
            self.place.clear();
            self.place.push(self.delimiter);
            for &t in &cols {
                spans::push_target(t, &mut self.place);
            }
            self.columns = Some(cols);
            return;
        }
        let cols = self.columns.take().unwrap_or_default();
        match self.replay {
            Some(ctx) if (REPLAY_MIN..=spans::MAX_LEN).contains(&self.raw.len()) => {
                let kinds = self.values.plan().kinds().len();
                let counts = &mut self.values.counts;
                if spans::replay(&ctx, &self.place, &self.raw, 0, out, counts).is_none() {
                    self.snap.clear();
                    counts.snapshot(kinds, &mut self.snap);
                    let from = out.len();
                    self.emit(out, n, &cols);
                    self.found.clear();
                    self.values.counts.since(&self.snap, &mut self.found);
                    let rep = &out[from..];
                    spans::remember(ctx, &self.place, &self.raw, rep, 0, &self.found);
                }
            }
            _ => self.emit(out, n, &cols),
        }
        self.columns = Some(cols);
    }

    /// Masks the `n` cells of the current record with column targets `cols`; writes the
    /// record raw if nothing changed.
    fn emit(&mut self, out: &mut Vec<u8>, n: usize, cols: &[Option<FieldTarget>]) {
        if self.passthrough {
            out.extend_from_slice(&self.raw);
            return;
        }
        // Masked cells, as (index, start, end of the replacement in `line`), in order.
        let mut changed = std::mem::take(&mut self.changed);
        changed.clear();
        self.line.clear();
        let route_scan = self.values.plan().scan();
        for i in 0..n {
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            let end = self.ends[i];
            let target = cols.get(i).copied().flatten();
            let bytes = &self.fields[start..end];
            // The byte prefilter first: a cell no detector can match is neither decoded nor
            // scanned (most cells of an export).
            let scan = match target {
                Some(FieldTarget::Ignore) => continue,
                Some(FieldTarget::Kind(_)) => None,
                Some(FieldTarget::Scan(set)) => Some(set),
                None => Some(route_scan),
            };
            if let Some(set) = scan {
                if !self.values.plan().detectors().may_match(bytes, set) {
                    continue;
                }
            }
            let text = utf8_lossy(bytes);
            self.cell.clear();
            let hit = match target {
                Some(FieldTarget::Ignore) => false,
                Some(FieldTarget::Kind(kind)) => {
                    self.values.mask_field(kind, &text, &mut self.cell)
                }
                Some(FieldTarget::Scan(set)) => {
                    let route_scan = self.values.set_scan(set);
                    let hit = !set.is_empty() && self.values.mask_text(&text, &mut self.cell);
                    self.values.set_scan(route_scan);
                    hit
                }
                None => {
                    !self.values.plan().scan().is_empty()
                        && self.values.mask_text(&text, &mut self.cell)
                }
            };
            if hit {
                let from = self.line.len();
                write_cell(&self.cell, self.delimiter, &mut self.line);
                changed.push((i, from, self.line.len()));
            }
        }
        if changed.is_empty() {
            out.extend_from_slice(&self.raw);
            self.changed = changed;
            return;
        }
        let (content_start, content_end) = split_raw(&self.raw, self.delimiter, &mut self.spans);
        out.extend_from_slice(&self.raw[..content_start]);
        let raw_ok = self.spans.len() == n;
        let mut next = changed.iter().peekable();
        for i in 0..n {
            if i > 0 {
                out.push(self.delimiter);
            }
            match next.peek() {
                Some(&&(ci, from, to)) if ci == i => {
                    out.extend_from_slice(&self.line[from..to]);
                    next.next();
                }
                _ if raw_ok => {
                    let (s, e) = self.spans[i];
                    out.extend_from_slice(&self.raw[s..e]);
                }
                _ => {
                    let text = String::from_utf8_lossy(self.field(i)).into_owned();
                    write_cell(&text, self.delimiter, out);
                }
            }
        }
        out.extend_from_slice(&self.raw[content_end..]);
        self.changed = changed;
    }

    fn start(&mut self, last: bool, out: &mut Vec<u8>) -> Result<(), MaskError> {
        if self.started || (self.head.len() < BOM.len() && !last) {
            return Ok(());
        }
        self.started = true;
        let head = std::mem::take(&mut self.head);
        let body: Cow<'_, [u8]> = if head.starts_with(BOM) {
            out.extend_from_slice(BOM);
            Cow::Borrowed(&head[BOM.len()..])
        } else {
            Cow::Borrowed(&head[..])
        };
        if !body.is_empty() {
            self.feed(&body, out)?;
        }
        Ok(())
    }

    fn run(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        if !self.started {
            let take = (BOM.len() - self.head.len().min(BOM.len())).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            self.start(false, out)?;
            if !self.started {
                return Ok(());
            }
            if take < chunk.len() {
                self.feed(&chunk[take..], out)?;
            }
            return Ok(());
        }
        if chunk.is_empty() {
            return Ok(());
        }
        self.feed(chunk, out)
    }
}

/// Splits a raw record into cell spans (`spans`), the way csv-core reads it: delimiters
/// outside quotes separate cells, the first CR or LF outside quotes ends the record. Returns
/// where the record's content starts (after leftover line breaks of the previous record or
/// blank lines) and ends (before its terminator).
fn split_raw(raw: &[u8], delimiter: u8, spans: &mut Vec<(usize, usize)>) -> (usize, usize) {
    spans.clear();
    let begin = raw
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(raw.len());
    // The byte classes, in order of precedence: a quote toggles quoting; outside quotes the
    // delimiter splits and CR or LF ends the record.
    const PLAIN: u8 = 0;
    const QUOTE: u8 = 1;
    const DELIM: u8 = 2;
    const EOL: u8 = 3;
    let mut class = [PLAIN; 256];
    class[usize::from(b'\r')] = EOL;
    class[usize::from(b'\n')] = EOL;
    class[usize::from(delimiter)] = DELIM;
    class[usize::from(b'"')] = QUOTE;
    let mut start = begin;
    let mut end = raw.len();
    let mut j = begin;
    while j < raw.len() {
        match class[usize::from(raw[j])] {
            PLAIN => j += 1,
            QUOTE => match raw[j + 1..].iter().position(|&b| b == b'"') {
                // Inside quotes only the closing quote matters.
                Some(p) => j += p + 2,
                None => break,
            },
            DELIM => {
                spans.push((start, j));
                start = j + 1;
                j += 1;
            }
            _ => {
                end = j;
                break;
            }
        }
    }
    spans.push((start, end));
    (begin, end)
}

/// The original byte-by-byte [`split_raw`], kept to check the fast one against.
#[cfg(test)]
fn split_raw_bytewise(
    raw: &[u8],
    delimiter: u8,
    spans: &mut Vec<(usize, usize)>,
) -> (usize, usize) {
    spans.clear();
    let begin = raw
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(raw.len());
    let mut start = begin;
    let mut in_quotes = false;
    let mut end = raw.len();
    for (j, &b) in raw.iter().enumerate().skip(begin) {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes && b == delimiter {
            spans.push((start, j));
            start = j + 1;
        } else if !in_quotes && (b == b'\r' || b == b'\n') {
            end = j;
            break;
        }
    }
    spans.push((start, end));
    (begin, end)
}

/// `bytes` as text, invalid bytes read as U+FFFD: [`String::from_utf8_lossy`], with the
/// faster validation of [`crate::format::utf8::check`] first (cells are almost always UTF-8).
fn utf8_lossy(bytes: &[u8]) -> Cow<'_, str> {
    match crate::format::utf8::check(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Writes a cell, quoted only if it must be.
fn write_cell(s: &str, delimiter: u8, out: &mut Vec<u8>) {
    let b = s.as_bytes();
    let needs =
        memchr::memchr3(delimiter, b'"', b'\n', b).is_some() || memchr::memchr(b'\r', b).is_some();
    if !needs {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

impl FormatSteps for CsvMasker {
    fn passthrough(&self) -> bool {
        self.passthrough
    }

    fn poisoned(&mut self) -> &mut bool {
        &mut self.poisoned
    }

    fn step(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        self.run(chunk, out)
    }

    fn held(&self) -> Option<(usize, Budget)> {
        let held = bytes_of(&self.head)
            + bytes_of(&self.raw)
            + bytes_of(&self.fields)
            + bytes_of(&self.ends)
            + bytes_of(&self.spans)
            + bytes_of(&self.changed)
            + self.cell.capacity()
            + bytes_of(&self.line)
            + bytes_of(&self.place)
            + self.values.held();
        Some((held, Budget::of(self.values.plan().limits())))
    }

    fn end(&mut self, out: &mut Vec<u8>) -> Result<(), MaskError> {
        self.start(true, out).and_then(|()| self.feed(&[], out))
    }

    fn step_counts(&self) -> Option<&MatchCounts> {
        Some(&self.values.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_chunk_invariant, fallback_plan, plan};
    use crate::Masker;

    const FIXTURE: &str = include_str!("../../../tests/data/csv/contacts.csv");

    const ROUTES: &str = r#"
routes:
  - name: export
    csv:
      " Name ": name
      Identifier: ignore
"#;

    fn mask(p: &MaskPlan, input: &str) -> String {
        let make = |p| Box::new(CsvMasker::new(p)) as Box<dyn Masker + Send>;
        String::from_utf8(assert_chunk_invariant(&make, p, input.as_bytes())).unwrap()
    }

    #[test]
    fn csv_cells_are_scanned_and_unchanged_records_copied() {
        let p = fallback_plan("agent");
        let out = mask(&p, FIXTURE);
        for v in [
            "maria.aparecida",
            "5511987654321",
            "4915123456789",
            "0151 23456789",
            "91234-5678",
            "351 912 345 678",
        ] {
            assert!(!out.contains(v), "{v:?} left in:\n{out}");
        }
        let lines: Vec<&str> = out.split_inclusive('\n').collect();
        let input: Vec<&str> = FIXTURE.split_inclusive('\n').collect();
        // Header and the PII-free record are byte-identical (CRLF kept).
        assert_eq!(lines[0], input[0]);
        assert!(out.contains("105,Clientes VIP Zona Sul (GROUP),,,120363025246125486@g.us,\"{\"\"plano\"\": \"\"vip\"\"}\"\r\n"), "{out}");
        // A changed cell is re-quoted only if it must be; other cells keep their quoting.
        assert!(
            out.contains("101,Maria Aparecida da Silva,[email],vt_phone_k1_"),
            "{out}"
        );
        assert!(out.contains("\"Ligar para vt_phone_k1_"), "{out}");
        assert!(
            out.contains("\"{\"\"cpf\"\": \"\"[redacted:cpf]\"\"}\""),
            "{out}"
        );
        assert!(
            out.ends_with("Reporting period 2025-11-01 to 2025-11-30"),
            "{out}"
        );
    }

    #[test]
    fn a_repeated_record_is_replayed_only_under_the_same_columns() {
        crate::clear_thread_caches();
        let p = plan(ROUTES, "export", "agent");
        let row = "7,+55 11 91234-5678,ligue +55 21 98123-4567 amanhã\n";
        let run = |header: &str| {
            let mut m = CsvMasker::new(p.clone());
            let input = format!("{header}\n{row}{row}");
            let out = crate::mask_all(&mut m, input.as_bytes()).unwrap();
            (String::from_utf8(out).unwrap(), m.counts().clone())
        };
        // The second row is the first again: replayed, the same bytes and counts.
        let hits = spans::hits();
        let (named, counts) = run("id,name,note");
        assert_eq!(spans::hits() - hits, 1);
        let rows: Vec<&str> = named.lines().skip(1).collect();
        assert_eq!(rows[0], rows[1]);
        assert!(
            !named.contains("91234-5678") && !named.contains("98123"),
            "{named}"
        );
        // Per row: the `name` cell (a field rule) and the phone in the note; the replayed
        // row counts them again.
        assert_eq!(counts.total_masked(), 4, "{counts:?}");
        assert!(
            named.contains("7,[redacted:name],ligue vt_phone_k1_"),
            "{named}"
        );
        // Under another header the same row is another place: not replayed from the first.
        let hits = spans::hits();
        let (other, _) = run("id,phone,note");
        assert_eq!(
            spans::hits() - hits,
            1,
            "only the second row of this document"
        );
        // There the cell is scanned, not a `name`: a phone token, not a redaction.
        assert!(other.contains("\n7,vt_phone_k1_"), "{other}");
        // A role that sees everything never gets the agent's records.
        let admin = plan(ROUTES, "export", "admin");
        let input = format!("id,name,note\n{row}");
        let mut m = CsvMasker::new(admin);
        assert_eq!(
            crate::mask_all(&mut m, input.as_bytes()).unwrap(),
            input.as_bytes()
        );
    }

    #[test]
    fn csv_multiline_quoted_cells_are_one_record() {
        let p = fallback_plan("agent");
        let out = mask(&p, FIXTURE);
        // The note of record 102 spans two lines; its phone is on the second.
        assert!(out.contains("\"Ligar para vt_phone_k1_"), "{out}");
        assert!(out.contains("\namanh\u{e3}, \"\"urgente\"\"\""), "{out}");
    }

    #[test]
    fn csv_header_field_rules_by_column_name() {
        let p = plan(ROUTES, "export", "agent");
        let out = mask(&p, FIXTURE);
        assert!(!out.contains("Maria Aparecida"), "{out}");
        assert!(out.contains("101,[redacted:name],[email],"), "{out}");
        // `ignore`: the identifier column keeps a value the phone detector would take.
        assert!(out.contains(",+5511987654321,\"{"), "{out}");
    }

    #[test]
    fn csv_all_clear_role_and_bom() {
        let p = fallback_plan("admin");
        assert_eq!(mask(&p, FIXTURE), FIXTURE);
        let p = fallback_plan("agent");
        let with_bom = "\u{feff}phone,x\n+5511987654321,1\n";
        let out = mask(&p, with_bom);
        assert!(out.starts_with("\u{feff}phone,x\nvt_phone_k1_"), "{out}");
        assert_eq!(mask(&p, "\u{feff}a,b\n1,2"), "\u{feff}a,b\n1,2");
        assert_eq!(mask(&p, ""), "");
    }

    #[test]
    fn csv_record_over_the_cap_fails_closed() {
        let p = plan("limits: { max_value: 64 }\nroutes: []\n", "(none)", "agent");
        let mut m = CsvMasker::new(p);
        let mut out = Vec::new();
        let long = format!("a,b\n\"{}\"\n", "x".repeat(100));
        let r = m
            .push(long.as_bytes(), &mut out)
            .and_then(|()| m.finish(&mut out));
        assert!(matches!(r, Err(MaskError::CapExceeded { .. })), "{r:?}");
        assert_eq!(m.push(b"x", &mut out), Err(MaskError::Poisoned));
    }

    #[test]
    fn csv_split_raw_reads_like_the_bytewise_loop() {
        // Every string up to 7 bytes over an alphabet of the bytes that matter, for the
        // usual delimiters and the odd ones (a quote, CR or LF as delimiter).
        let alphabet = [b'a', b',', b'\t', b'"', b'\r', b'\n'];
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        for delimiter in [b',', b'\t', b'"', b'\r', b'\n'] {
            for len in 0..=7u32 {
                for mut k in 0..alphabet.len().pow(len) {
                    let raw: Vec<u8> = (0..len)
                        .map(|_| {
                            let b = alphabet[k % alphabet.len()];
                            k /= alphabet.len();
                            b
                        })
                        .collect();
                    let a = split_raw(&raw, delimiter, &mut fast);
                    let b = split_raw_bytewise(&raw, delimiter, &mut slow);
                    assert_eq!((a, &fast), (b, &slow), "{raw:?} with {delimiter:?}");
                }
            }
        }
    }

    /// Runs the shared corpus CSV files when `../shared/corpus` exists.
    #[test]
    fn csv_corpus_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/chatwoot");
        if !dir.exists() {
            println!("skipped: {} not found", dir.display());
            return;
        }
        let p = fallback_plan("agent");
        for name in [
            "contacts-export",
            "contacts-export-all-columns",
            "csat-report",
        ] {
            let input = std::fs::read_to_string(dir.join(format!("{name}.csv"))).unwrap();
            let expect: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join(format!("{name}.expect.json"))).unwrap(),
            )
            .unwrap();
            let out = mask(&p, &input);
            for k in ["phones", "emails"] {
                for v in expect[k].as_array().into_iter().flatten() {
                    let v = v.as_str().unwrap();
                    assert!(!out.contains(v), "{name}: {v:?} left");
                }
            }
            for v in expect["keep"].as_array().into_iter().flatten() {
                let v = v.as_str().unwrap();
                // Known detector limit: a Message-ID shaped like an e-mail address is taken
                // by the e-mail detector (a detector matter, not the CSV masker's).
                if v == "CAF3x9Q2mK8@mail.example.com" {
                    println!("known detector limit: {v:?} is masked");
                    continue;
                }
                assert!(out.contains(v), "{name}: {v:?} changed");
            }
        }
    }

    /// The response's memory budget is charged after every chunk, by the shared wrapper of
    /// the format maskers: a record within the value cap but over the budget fails closed.
    #[test]
    fn csv_buffers_are_charged_against_the_response_budget() {
        let p = fallback_plan("agent");
        let input = format!("name,note\nAna,{}\n", "texto ".repeat(2000));
        crate::mask_all(&mut CsvMasker::new(p.clone()), input.as_bytes()).unwrap();
        let tight = p.clone().with_limits(crate::vocab::plan::Limits {
            max_memory: 4 << 10,
            ..p.limits()
        });
        let err = crate::mask_all(&mut CsvMasker::new(tight), input.as_bytes()).unwrap_err();
        assert_eq!(err.reason(), "cap_exceeded:memory", "{err}");
    }
}
