//! The streaming JSON masker: the hot path of veil.
//!
//! A resumable byte-level tokenizer with a container stack and the current path. It never
//! builds a DOM: everything that is not a string or number value is copied through as it
//! came (whitespace, key order, number formatting, escapes), and values are buffered only
//! until their closing quote or delimiter, then masked and emitted.
//!
//! For each value:
//! * a field rule ([`path::JsonFields`]) that matches its path says it is PII of a kind
//!   (masked whatever it looks like; a number so matched becomes a JSON *string* holding the
//!   replacement) or that it is not PII (`ignore`: detectors skip it);
//! * otherwise string values go through the route's detectors (behind their prefilter);
//!   key names are never masked.
//!
//! A field rule that matches an object or array applies to every scalar below it.
//!
//! Caps ([`Limits`](crate::vocab::plan::Limits)): string or number length (`max_value`), nesting
//! depth (`max_depth`), the subtree buffered for a filter (`max_subtree`). Past a cap, or on
//! bytes that are not JSON, [`Masker::push`] returns an error and the masker emits nothing
//! more. Several top-level values in a row (JSON lines, one WebSocket frame per line) are
//! accepted.
pub mod brackets;

pub mod escape;
mod lex;
mod record;

use crate::cache::spans::{self, ReplayCtx, Span};
use crate::cache::values::{self as cache, Flavor};
use crate::fields::json::{Elem, JsonFields, PendingFilter};
use crate::fields::FieldTarget;
use crate::format::budget::{bytes_of, release, release_string, Budget, KEEP};
use crate::format::text::ValueMasker;
use crate::vocab::counts::MatchCounts;
use crate::vocab::plan::MaskPlan;
use crate::{MaskError, Masker};
use brackets::Brackets;
use lex::{has_control, number_end, phone_length_integer, string_end, text_of, valid_number};
use record::Recording;

const FORMAT: &str = "JSON";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Between top-level values: whitespace, a value, or the end.
    Top,
    /// A value is expected (after `:` or `,` in an array).
    Value,
    /// After `[`: a value or `]`.
    ArrayFirst,
    /// After `{`: a key or `}`.
    ObjectFirst,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After a value: `,` or the closing bracket.
    AfterValue,
    /// Inside a string (key or value).
    Str { key: bool },
    /// Inside a number.
    Num,
    /// Inside `true`, `false` or `null`: the literal and how much of it matched.
    Lit(&'static [u8], u8),
    /// Buffering the element a filter must see (see [`Capture`]).
    Capture,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

#[derive(Debug)]
struct Frame {
    container: Container,
    /// Index of the current element (arrays).
    index: usize,
    /// Target inherited from a field rule that matched this container or an ancestor.
    inherit: Option<FieldTarget>,
    /// The deepest nesting of containers inside this one so far (0: none).
    height: usize,
    /// Set when this container is recorded for [`replay`] at its closing bracket.
    rec: Option<Recording>,
}

/// Scans the element a filter must see before it can be masked: where does it end?
#[derive(Debug, Default)]
struct Capture {
    buf: Vec<u8>,
    depth: usize,
    in_str: bool,
    escape: bool,
    /// The element is a scalar outside a string (number or literal).
    bare: bool,
    /// Filters to evaluate, as (next bit, filter index).
    filters: Vec<PendingFilter>,
}

/// The streaming JSON masker. See the module docs.
#[derive(Debug)]
pub struct JsonMasker {
    values: ValueMasker,
    passthrough: bool,
    st: St,
    frames: Vec<Frame>,
    /// Path state of each open container, `words` u64 each, flattened.
    states: Vec<u64>,
    /// Path state of the value being read.
    cur: Vec<u64>,
    /// Path state of a top-level value (the document root, or a captured element's).
    root: Vec<u64>,
    /// Target inherited by a top-level value (a captured element inside a matched container).
    root_inherit: Option<FieldTarget>,
    /// The next value is a member whose filters must be evaluated first.
    capture_next: bool,
    /// The first bytes of a UTF-8 character split across two chunks.
    utf8_carry: Vec<u8>,
    /// Containers of the chunk being read that were replayed (not checked for UTF-8 again).
    utf8_skips: Vec<(usize, usize)>,
    words: usize,
    /// The key just read, decoded.
    key: String,
    /// Raw bytes of an unfinished string or number.
    buf: Vec<u8>,
    /// The unfinished string has an escape.
    str_escaped: bool,
    /// The chunk ended on a backslash inside a string.
    escape_pending: bool,
    /// The replacement of the value just read, quotes included.
    rep: Vec<u8>,
    /// The findings of the value being replaced, for [`cache::remember`].
    cache_counts: Vec<(crate::vocab::kind::KindId, bool)>,
    decoded: String,
    map: Vec<u32>,
    scratch: String,
    capture: Capture,
    /// The context of containers in the span cache ([`replay`]); `None` when it is not
    /// used: for a role that sees everything, and for plans with filters (a filter buffers
    /// and masks its element through a sub-masker).
    replay_ctx: Option<ReplayCtx>,
    /// Scratch: a container's place for [`replay`].
    place: Vec<u8>,
    /// Where the containers of the chunk being read close.
    brackets: Brackets,
    /// Counts (masked, then clear, per kind) when each recorded container opened.
    count_snaps: Vec<u32>,
    /// What a recorded container found: (kind, served clear, how many).
    count_delta: Vec<(crate::vocab::kind::KindId, bool, u32)>,
    /// The response's memory budget (`format/budget.rs`).
    budget: Budget,
    offset: u64,
    poisoned: bool,
}

/// Bytes a parsed subtree (serde_json's `Value`, keys in order) takes per byte of its text,
/// at most: what a filter's element is charged before it is parsed.
const PARSED_PER_BYTE: usize = 8;

impl JsonMasker {
    pub fn new(plan: MaskPlan) -> Self {
        let words = plan.fields().json.words();
        let passthrough = plan.is_passthrough();
        let mut root = vec![0; words];
        plan.fields().json.root(&mut root);
        let budget = Budget::of(plan.limits());
        let values = ValueMasker::new(plan);
        let replay_ctx = (!passthrough && !values.plan().fields().json.has_filters())
            .then(|| ReplayCtx::new(values.scope(), Span::JsonContainer));
        JsonMasker {
            cur: root.clone(),
            root,
            root_inherit: None,
            capture_next: false,
            utf8_carry: Vec::new(),
            utf8_skips: Vec::new(),
            values,
            passthrough,
            st: St::Top,
            frames: Vec::new(),
            states: Vec::new(),
            words,
            key: String::new(),
            buf: Vec::new(),
            str_escaped: false,
            escape_pending: false,
            rep: Vec::new(),
            cache_counts: Vec::new(),
            decoded: String::new(),
            map: Vec::new(),
            scratch: String::new(),
            capture: Capture::default(),
            replay_ctx,
            place: Vec::new(),
            brackets: Brackets::default(),
            count_snaps: Vec::new(),
            count_delta: Vec::new(),
            budget,
            offset: 0,
            poisoned: false,
        }
    }

    /// Bytes this masker's buffers hold (see `format/budget.rs`).
    pub(crate) fn held(&self) -> usize {
        bytes_of(&self.buf)
            + self.decoded.capacity()
            + bytes_of(&self.map)
            + bytes_of(&self.rep)
            + self.scratch.capacity()
            + self.key.capacity()
            + bytes_of(&self.capture.buf)
            + bytes_of(&self.utf8_carry)
            + bytes_of(&self.utf8_skips)
            + bytes_of(&self.states)
            + bytes_of(&self.frames)
            + bytes_of(&self.place)
            + bytes_of(&self.count_snaps)
            + bytes_of(&self.count_delta)
            + self.brackets.held()
            + self.values.held()
    }

    /// Charges `more` bytes about to be allocated to the response's budget.
    fn charge(&self, more: usize) -> Result<(), MaskError> {
        self.budget.charge(self.held(), more)
    }

    /// Charges the decoded copy and 4-byte offset map of an escaped string, about to be
    /// built. Below [`KEEP`] bytes a string's copies fit in what the buffers keep anyway
    /// (the check after each chunk counts them), so only a large one is charged first.
    fn charge_decode(&self, raw: &[u8], has_escape: bool) -> Result<(), MaskError> {
        if has_escape && raw.len() >= KEEP / 8 {
            self.charge(5 * (raw.len() + 1))
        } else {
            Ok(())
        }
    }

    /// After a chunk: the buffers a large value grew are given back. The per-value scratch
    /// (decoded copy, offset map, replacement) holds nothing between chunks; the raw
    /// buffers only while a value is unfinished.
    fn release_value_buffers(&mut self) {
        release_string(&mut self.decoded);
        release(&mut self.map);
        release(&mut self.rep);
        release_string(&mut self.scratch);
        if self.buf.is_empty() {
            release(&mut self.buf);
        }
        if self.st != St::Capture {
            release(&mut self.capture.buf);
        }
    }

    /// A masker for a subtree whose root has path state `root` and inherited target `inherit`.
    fn for_subtree(plan: MaskPlan, root: &[u64], inherit: Option<FieldTarget>) -> Self {
        let mut m = JsonMasker::new(plan);
        m.root.copy_from_slice(root);
        m.root_inherit = inherit;
        m
    }

    /// What was masked and what was served clear so far.
    pub fn counts(&self) -> &MatchCounts {
        &self.values.counts
    }

    fn fields(&self) -> &JsonFields {
        &self.values.plan().fields().json
    }

    fn malformed(&self, at: usize, reason: &'static str) -> MaskError {
        MaskError::Malformed {
            format: FORMAT,
            offset: self.offset + at as u64,
            reason,
        }
    }

    fn inherited(&self) -> Option<FieldTarget> {
        match self.frames.last() {
            Some(f) => f.inherit,
            None => self.root_inherit,
        }
    }

    /// The target of the value whose state is in `cur`.
    fn target(&self) -> Option<FieldTarget> {
        if JsonFields::is_dead(&self.cur) {
            return self.inherited();
        }
        self.fields()
            .accepting(&self.cur)
            .or_else(|| self.inherited())
    }

    /// Computes `cur` for the element `elem` of the innermost container, and reports
    /// whether filters must be evaluated on it first.
    fn enter(&mut self, elem: Elem<'_>) -> bool {
        let w = self.words;
        let depth = self.frames.len();
        let parent = &self.states[(depth - 1) * w..depth * w];
        // A role that sees everything in the clear needs no paths: field rules and filters
        // cannot change its output (stepping the path automaton was a third of its time).
        if self.passthrough || JsonFields::is_dead(parent) {
            self.cur.fill(0);
            return false;
        }
        let fields = &self.values.plan().fields().json;
        if !fields.has_filters() {
            fields.step(parent, elem, &mut self.cur, None);
            return false;
        }
        self.capture.filters.clear();
        fields.step(parent, elem, &mut self.cur, Some(&mut self.capture.filters));
        !self.capture.filters.is_empty()
    }

    /// Opens a container. `close`: where it closes, when that is in this chunk and the
    /// container is one the span cache records.
    fn open(
        &mut self,
        container: Container,
        at: usize,
        close: Option<usize>,
        w: &Writer,
    ) -> Result<(), MaskError> {
        if self.frames.len() >= self.values.plan().limits().max_depth {
            return Err(MaskError::CapExceeded {
                cap: crate::Cap::JsonDepth,
                limit: self.values.plan().limits().max_depth,
            });
        }
        let inherited = self.inherited();
        let inherit = match self.target() {
            Some(t) => Some(t),
            None => inherited,
        };
        let rec = close.map(|_| {
            let snap = self.count_snaps.len();
            let kinds = self.values.plan().kinds().len();
            self.values.counts.snapshot(kinds, &mut self.count_snaps);
            Recording {
                start: at,
                out_start: w.out.len(),
                snap,
                inherit: inherited,
            }
        });
        self.frames.push(Frame {
            container,
            index: 0,
            inherit,
            height: 0,
            rec,
        });
        self.states.extend_from_slice(&self.cur);
        Ok(())
    }

    /// Closes the innermost container at its closing bracket `input[at]`, recording it
    /// for [`replay`] if it is being recorded.
    fn close(&mut self, input: &[u8], at: usize, w: &mut Writer) {
        let frame = self.frames.pop().expect("inside a container");
        let height = frame.height + 1;
        if let Some(parent) = self.frames.last_mut() {
            parent.height = parent.height.max(height);
        }
        let len = self.states.len() - self.words;
        if let Some(rec) = frame.rec {
            self.remember_container(rec, input, at, height, len, w);
        }
        self.states.truncate(len);
        self.st = if self.frames.is_empty() {
            St::Top
        } else {
            St::AfterValue
        };
    }

    /// After a scalar value ends.
    fn value_done(&mut self) {
        self.st = if self.frames.is_empty() {
            St::Top
        } else {
            St::AfterValue
        };
    }

    /// The whole document is checked to be UTF-8 once, chunk by chunk (much cheaper than
    /// per string), after the tokenizer has read the chunk: containers replayed from the
    /// span cache (`utf8_skips`) equal bytes that were checked when they were recorded,
    /// and are skipped. A character split across two chunks is carried over. (An error
    /// here poisons the masker like any other: the chunk's output is not to be sent.)
    fn check_utf8(&mut self, chunk: &[u8]) -> Result<(), MaskError> {
        if self.passthrough {
            return Ok(());
        }
        let mut from = 0;
        if !self.utf8_carry.is_empty() {
            let width = match self.utf8_carry[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let take = (width - self.utf8_carry.len()).min(chunk.len());
            self.utf8_carry.extend_from_slice(&chunk[..take]);
            if self.utf8_carry.len() < width {
                return Ok(());
            }
            if std::str::from_utf8(&self.utf8_carry).is_err() {
                return Err(self.malformed(0, "invalid UTF-8"));
            }
            self.utf8_carry.clear();
            from = take;
        }
        // Between two skipped containers: ends at a bracket, so no character is cut.
        for i in 0..self.utf8_skips.len() {
            let (start, end) = self.utf8_skips[i];
            if start >= from {
                if let Err(e) = crate::format::utf8::check(&chunk[from..start]) {
                    return Err(self.malformed(from + e.valid_up_to(), "invalid UTF-8"));
                }
            }
            from = from.max(end);
        }
        let tail = &chunk[from..];
        match crate::format::utf8::check(tail) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                self.utf8_carry.extend_from_slice(&tail[e.valid_up_to()..]);
                Ok(())
            }
            Err(e) => Err(self.malformed(from + e.valid_up_to(), "invalid UTF-8")),
        }
    }

    fn string_cap(&self, len: usize) -> Result<(), MaskError> {
        let cap = self.values.plan().limits().max_value;
        if len > cap {
            return Err(MaskError::CapExceeded {
                cap: crate::Cap::JsonValue,
                limit: cap,
            });
        }
        Ok(())
    }

    /// A key ended (`raw`: its content without quotes): steps the path automaton, so the
    /// member's state is known when its value starts. A key is data too (Baileys stores
    /// are keyed by WhatsApp id): it goes through the detectors, and when it must be
    /// replaced (returns true) the replacement, quotes included, is in `self.rep`.
    fn end_key(&mut self, raw: &[u8], has_escape: bool) -> Result<bool, MaskError> {
        if has_control(raw) {
            return Err(self.malformed(0, "control character in a string"));
        }
        self.st = St::Colon;
        if self.passthrough {
            return Ok(false);
        }
        if has_escape {
            let mut key = std::mem::take(&mut self.key);
            let decoded = escape::decode(raw, &mut key, &mut self.map);
            if decoded.is_ok() {
                self.capture_next = self.enter(Elem::Key(key.as_bytes()));
            }
            self.key = key;
            decoded.map_err(|_| self.malformed(0, "invalid escape in a key"))?;
        } else {
            self.capture_next = self.enter(Elem::Key(raw));
        }
        let mut rep = std::mem::take(&mut self.rep);
        rep.clear();
        let r = self.mask_free_text(raw, has_escape, &mut rep);
        self.rep = rep;
        r
    }

    /// A string value ended (`raw`: its content without quotes). Returns whether it must be
    /// replaced; the replacement, quotes included, is then in `self.rep`.
    fn end_string(&mut self, raw: &[u8], has_escape: bool) -> Result<bool, MaskError> {
        if has_control(raw) {
            return Err(self.malformed(0, "control character in a string"));
        }
        self.value_done();
        if self.passthrough {
            return Ok(false);
        }
        let mut rep = std::mem::take(&mut self.rep);
        rep.clear();
        let r = match self.target() {
            Some(FieldTarget::Ignore) => Ok(false),
            Some(FieldTarget::Kind(kind)) if !self.values.is_clear(kind) => {
                self.mask_whole(raw, has_escape, kind, &mut rep)
            }
            // No rule, or a kind this role sees in the clear: other PII inside (a contact
            // "name" that is a phone number) is still found by the detectors.
            Some(FieldTarget::Scan(set)) => {
                let route_scan = self.values.set_scan(set);
                let r = self.mask_free_text(raw, has_escape, &mut rep);
                self.values.set_scan(route_scan);
                r
            }
            Some(FieldTarget::Kind(_)) | None => self.mask_free_text(raw, has_escape, &mut rep),
        };
        self.rep = rep;
        r
    }

    /// Masks a whole value as `kind` (a field rule matched it) into `rep`.
    fn mask_whole(
        &mut self,
        raw: &[u8],
        has_escape: bool,
        kind: crate::vocab::kind::KindId,
        rep: &mut Vec<u8>,
    ) -> Result<bool, MaskError> {
        self.charge_decode(raw, has_escape)?;
        let text = text_of(
            raw,
            has_escape,
            self.offset,
            &mut self.decoded,
            &mut self.map,
        )?;
        self.scratch.clear();
        if !self.values.mask_field(kind, text, &mut self.scratch) {
            return Ok(false);
        }
        rep.push(b'"');
        escape::encode(&self.scratch, rep);
        rep.push(b'"');
        Ok(true)
    }

    /// Runs the detectors over a free-text string value; splices replacements into the raw
    /// bytes, written to `rep` with quotes. Returns whether anything was replaced.
    fn mask_free_text(
        &mut self,
        raw: &[u8],
        has_escape: bool,
        rep: &mut Vec<u8>,
    ) -> Result<bool, MaskError> {
        let scan = self.values.plan().scan();
        if scan.is_empty() {
            return Ok(false);
        }
        // The byte-level prefilter first: most strings stop here, before any decoding.
        if !has_escape && !self.values.plan().detectors().may_match(raw, scan) {
            return Ok(false);
        }
        let cached = !has_escape && raw.len() <= cache::MAX_LEN;
        let scope = self.values.scope();
        if cached {
            let (flavor, counts) = (Flavor::JsonString, &mut self.values.counts);
            if let Some(changed) = cache::replay(scope, flavor, raw, rep, counts) {
                return Ok(changed);
            }
        }
        self.charge_decode(raw, has_escape)?;
        let text = text_of(
            raw,
            has_escape,
            self.offset,
            &mut self.decoded,
            &mut self.map,
        )?;
        let changed = if cached {
            self.values.scan_uncached(text)
        } else {
            self.values.scan(text, 0)
        };
        if cached {
            let counts = self.values.finding_counts();
            if changed {
                // Written below, then recorded from `rep`.
                self.cache_counts.clear();
                self.cache_counts.extend(counts);
            } else {
                cache::remember(scope, Flavor::JsonString, raw, None, counts);
            }
        }
        if !changed {
            self.values.count_clear(text.len());
            return Ok(false);
        }
        // Splice: raw bytes between findings, escaped replacements for findings.
        rep.push(b'"');
        let mut raw_at = 0usize;
        let mut one = std::mem::take(&mut self.scratch);
        for i in 0..self.values.findings().len() {
            let f = &self.values.findings()[i];
            let (start, end) = (f.start, f.end);
            let (rs, re) = if has_escape {
                (self.map[start] as usize, self.map[end] as usize)
            } else {
                (start, end)
            };
            rep.extend_from_slice(&raw[raw_at..rs]);
            one.clear();
            self.values.write_replaced(text, start, end, &mut one);
            escape::encode(&one, rep);
            raw_at = re;
        }
        self.scratch = one;
        rep.extend_from_slice(&raw[raw_at..]);
        rep.push(b'"');
        if cached {
            let counts = self.cache_counts.drain(..);
            cache::remember(scope, Flavor::JsonString, raw, Some(rep), counts);
        }
        Ok(true)
    }

    /// A number ended. Returns whether it must be replaced (a field rule matched it); the
    /// replacement, a JSON string, is then in `self.rep`.
    fn end_number(&mut self, num: &[u8]) -> Result<bool, MaskError> {
        if num.len() > self.values.plan().limits().max_value {
            return Err(MaskError::CapExceeded {
                cap: crate::Cap::JsonNumber,
                limit: self.values.plan().limits().max_value,
            });
        }
        if !valid_number(num) {
            return Err(self.malformed(0, "invalid number"));
        }
        self.value_done();
        if self.passthrough {
            return Ok(false);
        }
        let mut rep = std::mem::take(&mut self.rep);
        rep.clear();
        let r = match self.target() {
            // Replaced like a string the rule names: the replacement is a JSON string.
            Some(FieldTarget::Kind(kind)) if !self.values.is_clear(kind) => {
                self.mask_whole(num, false, kind, &mut rep)
            }
            Some(FieldTarget::Ignore) => Ok(false),
            // An integer as long as a phone with its country code (`"wa": 5511987654321`)
            // goes through the detectors like a string; shorter ones are ids and counts.
            _ if phone_length_integer(num) => match self.target() {
                Some(FieldTarget::Scan(set)) => {
                    let route_scan = self.values.set_scan(set);
                    let r = self.mask_free_text(num, false, &mut rep);
                    self.values.set_scan(route_scan);
                    r
                }
                _ => self.mask_free_text(num, false, &mut rep),
            },
            _ => Ok(false),
        };
        self.rep = rep;
        r
    }

    /// A value starts at `input[at]`; reads as much of it as this chunk holds. Returns where
    /// reading goes on.
    fn value_at(&mut self, input: &[u8], at: usize, w: &mut Writer) -> Result<usize, MaskError> {
        match input[at] {
            b @ (b'{' | b'[') => {
                let close = match self.replay_container(input, at, w) {
                    Ok(end) => return Ok(end),
                    Err(close) => close,
                };
                if b == b'{' {
                    self.open(Container::Object, at, close, w)?;
                    self.st = St::ObjectFirst;
                } else {
                    self.open(Container::Array, at, close, w)?;
                    self.st = St::ArrayFirst;
                }
                Ok(at + 1)
            }
            b'"' => self.string_at(input, at, false, w),
            b'-' | b'0'..=b'9' => self.number_at(input, at, w),
            b't' => self.literal_at(input, at, b"true"),
            b'f' => self.literal_at(input, at, b"false"),
            b'n' => self.literal_at(input, at, b"null"),
            _ => Err(self.malformed(at, "expected a value")),
        }
    }

    /// A string (key or value) opens with the quote at `input[at]`.
    fn string_at(
        &mut self,
        input: &[u8],
        at: usize,
        key: bool,
        w: &mut Writer,
    ) -> Result<usize, MaskError> {
        let start = at + 1;
        let (end, has_escape, pending) = string_end(input, start);
        let Some(end) = end else {
            // Runs past this chunk: buffer its content; the opening quote is written with it.
            self.string_cap(input.len() - start)?;
            w.flush_to(input, at);
            w.skip_to(input.len());
            self.buf.clear();
            self.buf.extend_from_slice(&input[start..]);
            self.str_escaped = has_escape;
            self.escape_pending = pending;
            self.st = St::Str { key };
            return Ok(input.len());
        };
        let raw = &input[start..end];
        self.string_cap(raw.len())?;
        let replaced = if key {
            self.end_key(raw, has_escape)?
        } else {
            self.end_string(raw, has_escape)?
        };
        if replaced {
            w.flush_to(input, at);
            w.out.extend_from_slice(&self.rep);
            w.skip_to(end + 1);
        }
        Ok(end + 1)
    }

    /// Goes on with a string that began in an earlier chunk.
    fn resume_string(
        &mut self,
        input: &[u8],
        key: bool,
        w: &mut Writer,
    ) -> Result<usize, MaskError> {
        let from = usize::from(std::mem::take(&mut self.escape_pending)).min(input.len());
        let (end, has_escape, pending) = string_end(input, from);
        self.str_escaped |= has_escape;
        let Some(end) = end else {
            self.string_cap(self.buf.len() + input.len())?;
            self.buf.extend_from_slice(input);
            self.escape_pending = pending;
            w.skip_to(input.len());
            return Ok(input.len());
        };
        self.string_cap(self.buf.len() + end)?;
        let mut raw = std::mem::take(&mut self.buf);
        raw.extend_from_slice(&input[..end]);
        let escaped = self.str_escaped;
        let r = if key {
            self.end_key(&raw, escaped)
        } else {
            self.end_string(&raw, escaped)
        };
        match r {
            Ok(true) => w.out.extend_from_slice(&self.rep),
            Ok(false) => {
                w.out.push(b'"');
                w.out.extend_from_slice(&raw);
                w.out.push(b'"');
            }
            Err(_) => {}
        }
        raw.clear();
        self.buf = raw;
        r?;
        w.skip_to(end + 1);
        Ok(end + 1)
    }

    /// A number starts at `input[at]`.
    fn number_at(&mut self, input: &[u8], at: usize, w: &mut Writer) -> Result<usize, MaskError> {
        let Some(end) = number_end(input, at) else {
            if input.len() - at > self.values.plan().limits().max_value {
                return self.end_number(&input[at..]).map(|_| input.len());
            }
            w.flush_to(input, at);
            w.skip_to(input.len());
            self.buf.clear();
            self.buf.extend_from_slice(&input[at..]);
            self.st = St::Num;
            return Ok(input.len());
        };
        if self.end_number(&input[at..end])? {
            w.flush_to(input, at);
            w.out.extend_from_slice(&self.rep);
            w.skip_to(end);
        }
        Ok(end)
    }

    /// Goes on with a number that began in an earlier chunk.
    fn resume_number(&mut self, input: &[u8], w: &mut Writer) -> Result<usize, MaskError> {
        let end = number_end(input, 0).unwrap_or(input.len());
        self.buf.extend_from_slice(&input[..end]);
        w.skip_to(end);
        if end == input.len() {
            if self.buf.len() > self.values.plan().limits().max_value {
                let num = std::mem::take(&mut self.buf);
                return self.end_number(&num).map(|_| end);
            }
            return Ok(end);
        }
        self.flush_number(w.out)?;
        Ok(end)
    }

    /// Ends the buffered number and writes it or its replacement.
    fn flush_number(&mut self, out: &mut Vec<u8>) -> Result<(), MaskError> {
        let num = std::mem::take(&mut self.buf);
        let r = self.end_number(&num);
        if let Ok(changed) = r {
            out.extend_from_slice(if changed { &self.rep } else { &num });
        }
        self.buf = num;
        self.buf.clear();
        r.map(|_| ())
    }

    /// A literal (`true`, `false`, `null`) starts at `input[at]`. Literals are never
    /// changed: their bytes go out with the structure around them.
    fn literal_at(
        &mut self,
        input: &[u8],
        at: usize,
        lit: &'static [u8],
    ) -> Result<usize, MaskError> {
        let rest = &input[at..];
        if rest.starts_with(lit) {
            self.value_done();
            return Ok(at + lit.len());
        }
        if rest.len() < lit.len() && lit.starts_with(rest) {
            self.st = St::Lit(lit, rest.len() as u8);
            return Ok(input.len());
        }
        Err(self.malformed(at, "invalid literal"))
    }

    /// Goes on with a literal that began in an earlier chunk.
    fn resume_literal(
        &mut self,
        input: &[u8],
        lit: &'static [u8],
        n: u8,
    ) -> Result<usize, MaskError> {
        let need = &lit[n as usize..];
        let take = need.len().min(input.len());
        if input[..take] != need[..take] {
            return Err(self.malformed(0, "invalid literal"));
        }
        if take < need.len() {
            self.st = St::Lit(lit, n + take as u8);
        } else {
            self.value_done();
        }
        Ok(take)
    }

    /// An element a filter must see starts at `input[at]`: it is buffered whole, then masked.
    fn capture_at(&mut self, input: &[u8], at: usize, w: &mut Writer) -> Result<usize, MaskError> {
        self.begin_capture(input[at], at)?;
        w.flush_to(input, at);
        self.resume_capture(input, at + 1, w)
    }

    fn resume_capture(
        &mut self,
        input: &[u8],
        from: usize,
        w: &mut Writer,
    ) -> Result<usize, MaskError> {
        let (used, done) = self.feed_capture(&input[from..])?;
        let end = from + used;
        w.skip_to(end);
        if done {
            self.end_capture(w.out)?;
        }
        Ok(end)
    }

    /// Starts an array element: computes its path state, maybe starts a capture.
    fn element_at(&mut self, input: &[u8], at: usize, w: &mut Writer) -> Result<usize, MaskError> {
        let index = self.frames.last().map_or(0, |f| f.index);
        if self.enter(Elem::Index(index)) {
            return self.capture_at(input, at, w);
        }
        self.value_at(input, at, w)
    }

    fn begin_capture(&mut self, b: u8, i: usize) -> Result<(), MaskError> {
        let c = &mut self.capture;
        c.buf.clear();
        c.buf.push(b);
        c.depth = usize::from(b == b'{' || b == b'[');
        c.in_str = b == b'"';
        c.escape = false;
        c.bare = !(c.depth > 0 || c.in_str);
        if !(b == b'{' || b == b'[' || b == b'"' || b == b'-' || b.is_ascii_alphanumeric()) {
            return Err(self.malformed(i, "expected a value"));
        }
        self.st = St::Capture;
        Ok(())
    }

    /// Feeds capture bytes; returns how many were consumed and whether the element ended.
    fn feed_capture(&mut self, input: &[u8]) -> Result<(usize, bool), MaskError> {
        let cap = self.values.plan().limits().max_subtree;
        let c = &mut self.capture;
        for (k, &b) in input.iter().enumerate() {
            if c.bare {
                if matches!(b, b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t') {
                    return Ok((k, true));
                }
                c.buf.push(b);
            } else {
                c.buf.push(b);
                if c.in_str {
                    if c.escape {
                        c.escape = false;
                    } else if b == b'\\' {
                        c.escape = true;
                    } else if b == b'"' {
                        c.in_str = false;
                        if c.depth == 0 {
                            return Ok((k + 1, true));
                        }
                    }
                } else {
                    match b {
                        b'"' => c.in_str = true,
                        b'{' | b'[' => c.depth += 1,
                        b'}' | b']' => {
                            c.depth = c.depth.saturating_sub(1);
                            if c.depth == 0 {
                                return Ok((k + 1, true));
                            }
                        }
                        _ => {}
                    }
                }
            }
            if c.buf.len() > cap {
                return Err(MaskError::CapExceeded {
                    cap: crate::Cap::JsonSubtree,
                    limit: cap,
                });
            }
        }
        Ok((input.len(), false))
    }

    /// The captured element is complete: evaluate its filters, then mask it with the
    /// resulting path state through a sub-masker.
    fn end_capture(&mut self, out: &mut Vec<u8>) -> Result<(), MaskError> {
        self.charge(PARSED_PER_BYTE * self.capture.buf.len())?;
        let buf = std::mem::take(&mut self.capture.buf);
        let value: serde_json::Value =
            serde_json::from_slice(&buf).map_err(|_| self.malformed(0, "invalid JSON element"))?;
        // Filters test the element as the one member of an array (`$[?…]` over `[element]`).
        let wrapped = serde_json::Value::Array(vec![value]);
        let fields = &self.values.plan().fields().json;
        for p in self.capture.filters.drain(..) {
            if fields.eval_filter(p.filter, &wrapped) {
                fields.pass_filter(&mut self.cur, p.next_bit);
            }
        }
        let inherit = self.inherited();
        let mut sub = JsonMasker::for_subtree(self.values.plan().clone(), &self.cur, inherit);
        // The element, parsed and buffered, is held while the sub-masker runs.
        sub.budget = self
            .budget
            .rest(self.held() + (1 + PARSED_PER_BYTE) * buf.len());
        sub.push(&buf, out)?;
        sub.finish(out)?;
        self.values.counts.add(&sub.values.counts);
        self.capture.buf = buf;
        self.value_done();
        Ok(())
    }

    /// Goes on with a value that an earlier chunk left unfinished. Returns where the
    /// structure resumes.
    fn resume(&mut self, input: &[u8], w: &mut Writer) -> Result<usize, MaskError> {
        match self.st {
            St::Str { key } => self.resume_string(input, key, w),
            St::Num => self.resume_number(input, w),
            St::Lit(lit, n) => self.resume_literal(input, lit, n),
            St::Capture => self.resume_capture(input, 0, w),
            _ => Ok(0),
        }
    }

    /// The tokenizer. Bytes that need no change (structure, whitespace, literals, values
    /// left as they are) are not copied one by one: [`Writer`] copies them in runs, up to
    /// the next value that is replaced or buffered.
    fn run(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        self.utf8_skips.clear();
        if input.is_empty() {
            // Nothing to read; resuming on nothing would forget a pending escape.
            return Ok(());
        }
        if self.replay_ctx.is_some() {
            // Recordings hold offsets in the previous chunk: a container that spans two
            // chunks is not recorded.
            for f in &mut self.frames {
                f.rec = None;
            }
            self.count_snaps.clear();
            let in_string = matches!(self.st, St::Str { .. });
            self.brackets.index(input, in_string, self.escape_pending);
        }
        let mut w = Writer { out, mark: 0 };
        let mut i = self.resume(input, &mut w)?;
        while i < input.len() {
            let b = input[i];
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                i += 1;
                continue;
            }
            i = match self.st {
                St::Top => {
                    self.cur.copy_from_slice(&self.root);
                    self.value_at(input, i, &mut w)?
                }
                St::Value => {
                    if self.frames.last().map(|f| f.container) == Some(Container::Array) {
                        self.element_at(input, i, &mut w)?
                    } else if self.capture_next {
                        self.capture_next = false;
                        self.capture_at(input, i, &mut w)?
                    } else {
                        self.value_at(input, i, &mut w)?
                    }
                }
                St::ArrayFirst if b == b']' => {
                    self.close(input, i, &mut w);
                    i + 1
                }
                St::ArrayFirst => self.element_at(input, i, &mut w)?,
                St::ObjectFirst | St::Key if b == b'"' => self.string_at(input, i, true, &mut w)?,
                St::ObjectFirst if b == b'}' => {
                    self.close(input, i, &mut w);
                    i + 1
                }
                St::ObjectFirst | St::Key => return Err(self.malformed(i, "expected a key")),
                St::Colon if b == b':' => {
                    self.st = St::Value;
                    i + 1
                }
                St::Colon => return Err(self.malformed(i, "expected ':'")),
                St::AfterValue => {
                    let frame = self.frames.last_mut().expect("inside a container");
                    match (b, frame.container) {
                        (b',', Container::Array) => {
                            frame.index += 1;
                            self.st = St::Value;
                        }
                        (b',', Container::Object) => self.st = St::Key,
                        (b']', Container::Array) | (b'}', Container::Object) => {
                            self.close(input, i, &mut w)
                        }
                        _ => return Err(self.malformed(i, "expected ',' or a closing bracket")),
                    }
                    i + 1
                }
                St::Str { .. } | St::Num | St::Lit(..) | St::Capture => {
                    unreachable!("values that run past a chunk end it")
                }
            };
        }
        w.flush_to(input, input.len());
        self.offset += input.len() as u64;
        Ok(())
    }
}

/// Where the tokenizer writes: `input[mark..]` has not been written yet and, up to the
/// position being read, needs no change.
struct Writer<'o> {
    out: &'o mut Vec<u8>,
    mark: usize,
}

impl Writer<'_> {
    /// Writes the unchanged bytes before `to`.
    fn flush_to(&mut self, input: &[u8], to: usize) {
        if self.mark < to {
            self.out.extend_from_slice(&input[self.mark..to]);
            self.mark = to;
        }
    }

    /// The bytes before `to` are written (replaced) or buffered: not to be copied.
    fn skip_to(&mut self, to: usize) {
        self.mark = to;
    }
}

impl Masker for JsonMasker {
    fn counts(&self) -> Option<&MatchCounts> {
        Some(&self.values.counts)
    }

    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        if self.poisoned {
            return Err(MaskError::Poisoned);
        }
        let r = self
            .run(chunk, out)
            .and_then(|()| self.check_utf8(chunk))
            .and_then(|()| self.charge(0));
        self.release_value_buffers();
        if r.is_err() {
            self.poisoned = true;
            // Spans recorded from this chunk were masked before its UTF-8 check ran (or
            // it never ran): none may be replayed unchecked to another document.
            spans::clear_thread_cache();
        }
        r
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MaskError> {
        if self.poisoned {
            return Err(MaskError::Poisoned);
        }
        let r = match self.st {
            _ if !self.utf8_carry.is_empty() => Err(self.malformed(0, "truncated UTF-8")),
            St::Num if self.frames.is_empty() => self.flush_number(out),
            St::Top if self.frames.is_empty() => Ok(()),
            _ => Err(MaskError::Truncated { format: FORMAT }),
        };
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_chunk_invariant, plan};
    use crate::vocab::plan::Limits;

    const ROUTES: &str = r#"
routes:
  - name: api
    json:
      "$.attrs[?@.type=='phone'].value": phone
      "$..message_id": ignore
      "$.payload[*].source_id": ignore email
      "$..customer_id": phone
      "$..profile": name
"#;

    fn mask(route_plan: &MaskPlan, input: &str) -> String {
        let out = assert_chunk_invariant(
            &|p| Box::new(JsonMasker::new(p)),
            route_plan,
            input.as_bytes(),
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn filters_buffer_one_element_and_select_by_sibling() {
        let p = plan(ROUTES, "api", "agent");
        let input = r#"{"attrs":[{"type":"phone","value":"call me"},{"type":"note","value":"call me"}],"n":1}"#;
        let out = mask(&p, input);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(
            v["attrs"][0]["value"]
                .as_str()
                .unwrap()
                .starts_with("vt_phone_k1_"),
            "{out}"
        );
        assert_eq!(v["attrs"][1]["value"], "call me");
        assert_eq!(v["n"], 1);
    }

    #[test]
    fn ignore_and_ignore_some_detectors() {
        let p = plan(ROUTES, "api", "agent");
        let input = r#"{"message_id":"a.b@mail.example.com","payload":[{"source_id":"CAF3x@mail.example.com"},{"source_id":"+5511987654321"}],"x":"ana@example.com"}"#;
        let out = mask(&p, input);
        assert!(
            out.contains("\"message_id\":\"a.b@mail.example.com\""),
            "{out}"
        );
        assert!(
            out.contains("\"source_id\":\"CAF3x@mail.example.com\""),
            "{out}"
        );
        assert!(
            !out.contains("+5511987654321"),
            "other detectors still run: {out}"
        );
        assert!(!out.contains("ana@example.com"), "{out}");
    }

    #[test]
    fn a_number_field_becomes_a_string_token_and_containers_mask_their_leaves() {
        let p = plan(ROUTES, "api", "agent");
        let out = mask(
            &p,
            r#"{"customer_id": 5511987654321, "profile": {"a": "Ana", "b": [1, "Bia"]}, "ok": 12.5e3}"#,
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(
            v["customer_id"]
                .as_str()
                .unwrap()
                .starts_with("vt_phone_k1_"),
            "{out}"
        );
        assert_eq!(v["profile"]["a"], "[redacted:name]");
        assert_eq!(v["profile"]["b"][1], "[redacted:name]");
        assert!(
            out.contains("\"ok\": 12.5e3"),
            "numbers keep their formatting: {out}"
        );
    }

    #[test]
    fn escapes_cannot_hide_a_value_and_other_bytes_stay() {
        let p = plan(ROUTES, "api", "agent");
        let input = r#"{"k":"M\u00fcller \u0026 S\u00f6hne: \u002b55 11 98765-4321 \/ ok"}"#;
        let out = mask(&p, input);
        assert!(!out.contains("98765-4321"), "{out}");
        assert!(
            out.starts_with(r#"{"k":"M\u00fcller \u0026 S\u00f6hne: vt_phone_k1_"#),
            "{out}"
        );
        assert!(out.ends_with(r#" \/ ok"}"#), "{out}");
    }

    #[test]
    fn admin_gets_the_bytes_back_and_whitespace_is_kept() {
        let p = plan(ROUTES, "api", "admin");
        let input =
            "{ \"a\" : [ 1 , 2.0 , true , null ] ,\n \"b\" : \"+55 11 98765-4321\" }\n{\"next\":1}";
        assert_eq!(mask(&p, input), input);
    }

    #[test]
    fn malformed_input_and_caps_fail_closed() {
        let p = plan(ROUTES, "api", "agent");
        for bad in [
            r#"{"a":}"#,
            r#"{"a" 1}"#,
            r#"[1,]x"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":tru}"#,
            r#"{"a":01}"#,
            r#"{"a":"\x"}"#,
        ] {
            let mut m = JsonMasker::new(p.clone());
            assert!(crate::mask_all(&mut m, bad.as_bytes()).is_err(), "{bad}");
        }
        let mut m = JsonMasker::new(p.clone());
        assert!(matches!(
            crate::mask_all(&mut m, br#"{"a":"unterminated"#),
            Err(MaskError::Truncated { .. })
        ));
        let limits = p.limits();
        let small = p.clone().with_limits(Limits {
            max_depth: 3,
            ..limits
        });
        let mut m = JsonMasker::new(small.clone());
        assert!(matches!(
            crate::mask_all(&mut m, b"[[[[1]]]]"),
            Err(MaskError::CapExceeded { .. })
        ));
        let small = small.with_limits(Limits {
            max_depth: 3,
            max_value: 8,
            ..limits
        });
        let mut m = JsonMasker::new(small);
        let r = crate::mask_all(&mut m, br#"["a long string value"]"#);
        assert!(matches!(r, Err(MaskError::CapExceeded { .. })));
        // After an error nothing more comes out.
        let mut out = Vec::new();
        assert_eq!(m.push(b"[1]", &mut out), Err(MaskError::Poisoned));
        assert!(out.is_empty());
    }

    #[test]
    fn an_audited_clear_role_counts_what_it_was_served() {
        let plan = crate::testutil::fallback_plan("admin").with_audit_clear(true);
        let phone = plan.kinds().get("phone").unwrap();
        let email = plan.kinds().get("email").unwrap();
        let mut m = JsonMasker::new(plan);
        let input =
            br#"{"phone":"+5521981234567","note":"maria.teste@example.com or +55 21 98123-4567"}"#;
        assert_eq!(crate::mask_all(&mut m, input).unwrap(), input);
        let clear = &m.counts().clear;
        assert_eq!(clear.get(phone.0 as usize), Some(&2), "{clear:?}");
        assert_eq!(clear.get(email.0 as usize), Some(&1), "{clear:?}");
        assert_eq!(m.counts().total_masked(), 0);
    }

    proptest::proptest! {
        #[test]
        fn quote_search_finds_the_first_quote_or_backslash(
            picks in proptest::collection::vec(0usize..6, 0..80)
        ) {
            const BYTES: [u8; 6] = [b'a', b'"', b'\\', 0xC3, b'!', b'#'];
            let h: Vec<u8> = picks.iter().map(|&p| BYTES[p]).collect();
            let plain = h.iter().position(|&b| b == b'"' || b == b'\\');
            proptest::prop_assert_eq!(lex::quote_or_backslash(&h), plain);
        }
    }

    #[test]
    fn an_empty_chunk_inside_an_escape_changes_nothing() {
        let doc = br#"{"note":"ligue \"+55 21 98123-4567\" hoje"}"#;
        let split = doc.iter().position(|&b| b == b'\\').unwrap() + 1;
        let plan = crate::testutil::fallback_plan("agent");
        let whole = crate::mask_all(&mut JsonMasker::new(plan.clone()), doc).unwrap();
        let mut m = JsonMasker::new(plan);
        let mut out = Vec::new();
        for part in [&doc[..split], &[][..], &doc[split..]] {
            m.push(part, &mut out).unwrap();
        }
        m.finish(&mut out).unwrap();
        assert_eq!(out, whole);
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains("98123") && text.contains(r#"ligue \""#),
            "{text}"
        );
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
    }

    pub(super) const CONTACTS: &str = r#"
routes:
  - name: contacts
    json:
      "$..contact.phone": phone
"#;

    /// A contact object, 64 bytes or more: recorded by the span cache.
    pub(super) const OBJ: &str =
        r#"{"phone":"call 1234","note":"ligue +55 21 98123-4567 hoje","id":"x-0001"}"#;

    /// Masks `input` whole (containers can be recorded and replayed) and one byte at a time
    /// (no container is ever whole in a chunk: the span cache is never used).
    #[test]
    fn a_cached_value_replays_the_same_bytes_and_counts_and_only_for_its_plan() {
        crate::clear_thread_caches();
        let agent = crate::testutil::fallback_plan("agent");
        let audited = crate::testutil::fallback_plan("admin").with_audit_clear(true);
        let input = br#"{"note":"ligue +55 21 98123-4567","mail":"maria.teste@example.com"}"#;
        let run = |plan: &MaskPlan| {
            let mut m = JsonMasker::new(plan.clone());
            let out = crate::mask_all(&mut m, input).unwrap();
            (out, m.counts().clone())
        };
        let (first, first_counts) = run(&agent);
        let out = String::from_utf8(first.clone()).unwrap();
        assert!(
            !out.contains("98123") && !out.contains("maria.teste"),
            "{out}"
        );
        assert!(out.contains("\"ligue "), "{out}");
        // Second time from the cache: the same bytes, the same counts.
        let (second, second_counts) = run(&agent);
        assert_eq!(second, first);
        assert_eq!(second_counts, first_counts);
        assert_eq!(first_counts.total_masked(), 2);
        // Another role does not get the agent's entries: the admin sees its input back.
        let (admin_out, admin_counts) = run(&audited);
        assert_eq!(admin_out, input);
        assert_eq!(admin_counts.total_masked(), 0);
        // And the agent's next run still masks.
        assert_eq!(run(&agent).0, first);
    }

    #[test]
    fn keys_and_phone_length_integers_go_through_the_detectors() {
        let plan = crate::testutil::fallback_plan("agent");
        let doc = br#"{"5511987654321@s.whatsapp.net":{"name":"Maria","wa":5511987654321,"id":301,"ts":1763640000123,"n":12.5},"+4915123456789":[2147483647]}"#;
        let out = crate::mask_all(&mut JsonMasker::new(plan), doc).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("5511987654321"), "{out}");
        assert!(!out.contains("4915123456789"), "{out}");
        assert!(out.contains(r#""wa":"vt_phone_"#), "{out}");
        // Ids, timestamps, decimals and short integers keep their bytes and their type.
        assert!(
            out.contains(r#""id":301,"ts":1763640000123,"n":12.5"#),
            "{out}"
        );
        assert!(out.contains("[2147483647]"), "{out}");
        serde_json::from_str::<serde_json::Value>(&out).expect("still JSON");
    }

    /// A string of `n` bytes, every other character escaped (`\u00e9`).
    fn escaped_string(n: usize) -> String {
        let mut v = String::with_capacity(n + 16);
        while v.len() < n {
            v.push_str("ab\\u00e9");
        }
        v
    }

    #[test]
    fn one_memory_budget_bounds_every_buffer_of_a_response() {
        let p = crate::testutil::fallback_plan("agent");
        let big = escaped_string(900 << 10);
        let doc = format!(r#"["{big}", "ligue +55 11 98765-4321"]"#);
        // Within the value cap, and within the default budget (8 MiB).
        let out = crate::mask_all(&mut JsonMasker::new(p.clone()), doc.as_bytes()).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("98765-4321"));
        // The same value, a budget that cannot hold its decoded copy and offset map.
        let tight = p.clone().with_limits(Limits {
            max_memory: 2 << 20,
            ..p.limits()
        });
        let err = crate::mask_all(&mut JsonMasker::new(tight.clone()), doc.as_bytes()).unwrap_err();
        assert_eq!(err.reason(), "cap_exceeded:memory", "{err}");
        // Chunked: the same verdict, and nothing of the value was emitted before it failed.
        let mut m = JsonMasker::new(tight);
        let mut out = Vec::new();
        let r = doc
            .as_bytes()
            .chunks(4096)
            .try_for_each(|c| m.push(c, &mut out));
        assert_eq!(r.unwrap_err().reason(), "cap_exceeded:memory");
        assert!(out.len() < 16, "{}", out.len());
    }

    #[test]
    fn a_large_value_s_buffers_are_given_back_once_it_is_done() {
        let p = crate::testutil::fallback_plan("agent");
        let big = escaped_string(900 << 10);
        let mut m = JsonMasker::new(p);
        let mut out = Vec::new();
        m.push(format!(r#"["{big}", "#).as_bytes(), &mut out)
            .unwrap();
        assert!(
            m.held() < 512 << 10,
            "{} bytes held after the value",
            m.held()
        );
        m.push(br#""+55 11 98765-4321"]"#, &mut out).unwrap();
        m.finish(&mut out).unwrap();
    }

    #[test]
    fn a_filter_s_element_is_charged_before_it_is_parsed() {
        let routes = r#"
routes:
  - name: api
    json:
      "$.attrs[?@.type=='phone'].value": phone
"#;
        let p = plan(routes, "api", "agent");
        let filler = "x".repeat(300 << 10);
        let doc = format!(r#"{{"attrs":[{{"type":"phone","value":"call me","pad":"{filler}"}}]}}"#);
        crate::mask_all(&mut JsonMasker::new(p.clone()), doc.as_bytes()).unwrap();
        let tight = p.clone().with_limits(Limits {
            max_memory: 2 << 20,
            ..p.limits()
        });
        let err = crate::mask_all(&mut JsonMasker::new(tight), doc.as_bytes()).unwrap_err();
        assert_eq!(err.reason(), "cap_exceeded:memory", "{err}");
    }
}
