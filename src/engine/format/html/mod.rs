//! The streaming HTML masker, on [lol_html]'s rewriter.
//!
//! lol_html tokenizes the stream and calls back per start tag, text fragment and comment;
//! everything no callback changes is copied from the input as it came (byte-identical, not
//! re-serialized). On top of it:
//!
//! * **Text nodes** (`Data`, `<title>`/`<textarea>` RCDATA, `<style>`-like raw text) are
//!   buffered until their last fragment ([`TextChunk::last_in_text_node`]), so a value split
//!   across network chunks or lol_html fragments is seen whole. Character references are
//!   decoded first ([`entity`]), and replacements are spliced into the raw text, escaped for
//!   HTML. Fragments are written out as they come; a node that changes is taken back out of
//!   the output at its last fragment and written masked in its place. A call that ends
//!   inside a node cuts that node's fragments off what it returns (they may hold half a
//!   value), and the node is re-emitted whole at its last fragment (the same bytes for UTF-8
//!   input).
//! * **Attributes**: `href` (a `tel:` or `wa.me/` target, and any link: an inbox builds
//!   links from what a client sent, `?q=%2B55…`), `value`, `title`, `alt`, `placeholder`,
//!   `content`, `aria-label`, `label` and every `data-*` go through the detectors
//!   (references decoded first). A start tag is rewritten
//!   only when one of its values changes.
//! * **Scripts**: `<script type="application/json">` and `application/ld+json` go through a
//!   [`JsonMasker`] (with the route's JSON field rules); if the body is not valid JSON it is
//!   scanned as a script instead. Other inline scripts are scanned as text with JavaScript
//!   escapes decoded ([`js`]: `\u00fc`, `\u002b`, `\/`), replacements escaped for a string
//!   literal.
//! * **Comments** are scanned (references decoded).
//! * **Field rules** (`html:` in a route): `"selector"` masks each text node of the matched
//!   elements as the rule's kind, whatever it looks like (surrounding whitespace kept);
//!   `"selector @attr"` does the same for that attribute. `ignore` skips detection there.
//!
//! # What is buffered, when output lags
//! One text node (cap: [`Limits::max_value`](crate::vocab::plan::Limits), [`MaskError::CapExceeded`]
//! past it); lol_html's own buffers (a start tag or comment split across chunks), capped by
//! its memory limit at `max_value + 64 KiB`. Output lags input by at most the current text
//! node or tag.
//!
//! # No lock on the hot path
//! lol_html's `Send` handlers are `'static` closures and its output sink is owned by the
//! rewriter, so they cannot borrow the masker. The masker lends them its state and the
//! caller's output buffer for the duration of each `write` through two thread-locals
//! ([`Lent`]): the rewriter runs handlers and the sink synchronously on the calling thread,
//! so the thread-local is the masker's for that call, with a `RefCell` flag check per
//! access where a `Mutex` cost two atomic operations. The loan is returned when the call
//! ends (or unwinds). HTML maskers do not nest (a handler never runs another one).
//!
//! # Failure modes
//! Any rewriter error — a handler error, lol_html's memory limit, a parsing ambiguity in
//! strict mode — is returned as a [`MaskError`] and poisons the masker; lol_html's graceful
//! bail-outs (which would pass the rest of the document through unmasked) stay off. Output
//! the sink received in the failing call is dropped.
//!
//! # Known limits
//! The input is decoded as UTF-8 (`<meta charset>` is not followed). A text node that arrives
//! in several fragments is re-emitted from lol_html's decoded text, so invalid UTF-8 inside it
//! comes out as U+FFFD. URLs are not percent-decoded (`tel:%2B55…` is scanned as written).
//! A finding in a script outside a string literal is replaced too, which can break that
//! script (better than leaking the value).
pub mod entity;
pub mod js;

use crate::cache::scope::ScopeId;
use crate::cache::values::{self, Flavor};
use crate::fields::FieldTarget;
use crate::format::budget::{bytes_of, Budget};
use crate::format::json::JsonMasker;
use crate::format::text::ValueMasker;
use crate::vocab::counts::MatchCounts;
use crate::vocab::plan::MaskPlan;
use crate::{FormatSteps, MaskError, Masker};
use lol_html::errors::RewritingError;
use lol_html::html_content::{Comment, ContentType, TextChunk, TextType};
use lol_html::send::{Element, ElementContentHandlers, HtmlRewriter, Settings};
use lol_html::{DocumentContentHandlers, MemorySettings, OutputSink, Selector};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::OnceLock;

const FORMAT: &str = "HTML";

/// Slack over `max_value` for lol_html's internal buffers (a tag split across chunks).
const PARSER_SLACK: usize = 64 << 10;

thread_local! {
    /// The state of the masker whose rewriter is running on this thread (see [`Lent`]).
    static STATE: RefCell<Option<Box<State>>> = const { RefCell::new(None) };
    /// The output buffer of that call: the caller's `out`, lent to the sink.
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Where the rewriter writes: the output buffer lent for the current call.
struct Sink;

impl OutputSink for Sink {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        OUTPUT.with(|o| o.borrow_mut().extend_from_slice(chunk));
    }
}

/// Runs `f` on the lent state: what every handler does.
fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        f(s.as_mut()
            .expect("a handler runs only while its masker's state is lent"))
    })
}

/// A masker's state and its caller's output, lent to the thread-locals while its rewriter
/// runs; given back on drop (also when a handler panics).
struct Lent<'a> {
    state: &'a mut Option<Box<State>>,
    out: &'a mut Vec<u8>,
}

impl<'a> Lent<'a> {
    fn new(state: &'a mut Option<Box<State>>, out: &'a mut Vec<u8>) -> Self {
        STATE.with(|s| std::mem::swap(&mut *s.borrow_mut(), state));
        OUTPUT.with(|o| std::mem::swap(&mut *o.borrow_mut(), out));
        Lent { state, out }
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        STATE.with(|s| std::mem::swap(&mut *s.borrow_mut(), self.state));
        OUTPUT.with(|o| std::mem::swap(&mut *o.borrow_mut(), self.out));
    }
}

/// Per-fragment context set by the selector-bound handlers, read by the text handler.
#[derive(Clone, Copy, Debug, Default)]
struct TextCtx {
    target: Option<FieldTarget>,
}

/// State shared by the rewriter's handlers.
struct State {
    values: ValueMasker,
    max_value: usize,
    /// The text of the node being read (its fragments so far).
    text: String,
    /// Where that node's first fragment starts in the lent output (this call's part of it).
    node_start: Option<usize>,
    /// The node's earlier fragments were cut from a previous call's output.
    node_cut: bool,
    /// Context of the current fragment (set by selector-bound handlers, reset after use).
    chunk_ctx: TextCtx,
    /// Context of the node being buffered.
    node_ctx: TextCtx,
    /// The last `<script>` started is a JSON one.
    script_json: bool,
    /// Attribute field rules that matched the current element: (name, target).
    attr_rules: Vec<(String, FieldTarget)>,
    /// Scratch of [`Self::on_element`]: changed attributes and their new values, the
    /// scanned names seen so far (ranges in `attr_values`), names repeated with a change.
    attr_changes: Vec<(String, usize, usize)>,
    attr_values: String,
    attr_seen: Vec<(usize, usize)>,
    attr_dups: Vec<String>,
    decoded: String,
    map: Vec<u32>,
    masked: String,
    /// A replacement replayed from the value cache.
    replayed: Vec<u8>,
    json_out: Vec<u8>,
}

impl State {
    /// Bytes this state's buffers hold (the response's memory budget).
    fn held(&self) -> usize {
        self.text.capacity()
            + bytes_of(&self.attr_rules)
            + bytes_of(&self.attr_changes)
            + self.attr_values.capacity()
            + bytes_of(&self.attr_seen)
            + bytes_of(&self.attr_dups)
            + self.decoded.capacity()
            + bytes_of(&self.map)
            + self.masked.capacity()
            + bytes_of(&self.replayed)
            + bytes_of(&self.json_out)
            + self.values.held()
    }
}

type HandlerError = Box<dyn std::error::Error + Send + Sync>;

impl State {
    /// The masked form of a whole text node, or `None` when it needs no change.
    fn mask_node(
        &mut self,
        raw: &str,
        ty: TextType,
        ctx: TextCtx,
    ) -> Result<Option<String>, MaskError> {
        if let Some(FieldTarget::Scan(set)) = ctx.target {
            let route_scan = self.values.set_scan(set);
            let r = self.mask_node(raw, ty, TextCtx { target: None });
            self.values.set_scan(route_scan);
            return r;
        }
        self.masked.clear();
        let changed = match (ctx.target, ty) {
            (Some(FieldTarget::Ignore), _) => false,
            (Some(FieldTarget::Kind(kind)), TextType::ScriptData) => {
                self.mask_field(kind, raw, None, js::escape)
            }
            (Some(FieldTarget::Kind(kind)), _) => {
                let decoded = entity::decode(raw, &mut self.decoded, &mut self.map);
                self.mask_field(kind, raw, decoded.then_some(()), entity::escape)
            }
            (None | Some(FieldTarget::Scan(_)), TextType::ScriptData) if self.script_json => {
                self.mask_json_script(raw)?
            }
            (None, TextType::ScriptData) => self.mask_decoded(raw, js::decode, js::escape, None),
            (None, TextType::Data | TextType::RCData) => self.mask_html_text(raw),
            (None | Some(FieldTarget::Scan(_)), _) => {
                self.mask_decoded(raw, no_decode, escape_raw_text, None)
            }
        };
        Ok(changed.then(|| std::mem::take(&mut self.masked)))
    }

    /// Scans `raw` (decoded by `decode`) and splices escaped replacements into `masked`.
    /// With a `cache` flavor, a string short enough is replayed from the [`value_cache`]
    /// when this thread masked it before under the same rules, keys and role, and recorded
    /// there when not.
    fn mask_decoded(
        &mut self,
        raw: &str,
        decode: fn(&str, &mut String, &mut Vec<u32>) -> bool,
        escape: fn(&str, &mut String),
        cache: Option<Flavor>,
    ) -> bool {
        let scan = self.values.plan().scan();
        if scan.is_empty() {
            return false;
        }
        let mut decoded = std::mem::take(&mut self.decoded);
        let mut map = std::mem::take(&mut self.map);
        let has_decoded = decode(raw, &mut decoded, &mut map);
        let text = if has_decoded { decoded.as_str() } else { raw };
        let map_back = has_decoded.then_some(map.as_slice());
        let changed = match cache.filter(|_| raw.len() <= values::MAX_LEN) {
            // The prefilter first: the cache holds only strings it let through.
            Some(_)
                if !self
                    .values
                    .plan()
                    .detectors()
                    .may_match(text.as_bytes(), scan) =>
            {
                false
            }
            Some(flavor) => {
                let ctx = (self.values.scope(), flavor);
                self.replay(ctx, raw)
                    .unwrap_or_else(|| self.scan_and_splice(raw, text, map_back, escape, Some(ctx)))
            }
            None => self.scan_and_splice(raw, text, map_back, escape, None),
        };
        self.decoded = decoded;
        self.map = map;
        changed
    }

    /// HTML text or an attribute value: references decoded, replacements escaped for HTML,
    /// through the value cache.
    fn mask_html_text(&mut self, raw: &str) -> bool {
        self.mask_decoded(raw, entity::decode, entity::escape, Some(Flavor::HtmlText))
    }

    /// The detectors over `text` (decoded from `raw`, `map` leading back), replacements
    /// spliced into `masked`; recorded in the value cache under `record`, if given.
    fn scan_and_splice(
        &mut self,
        raw: &str,
        text: &str,
        map: Option<&[u32]>,
        escape: fn(&str, &mut String),
        record: Option<(ScopeId, Flavor)>,
    ) -> bool {
        let from = self.masked.len();
        let changed = if record.is_some() {
            // The cache stands in for the findings memo of `scan`.
            self.values.scan_uncached(text)
        } else {
            self.values.scan(text, 0)
        };
        if changed {
            self.values.splice(raw, text, map, escape, &mut self.masked);
        } else {
            self.values.count_clear(text.len());
        }
        if let Some((scope, flavor)) = record {
            let rep = changed.then(|| &self.masked.as_bytes()[from..]);
            let counts = self.values.finding_counts();
            values::remember(scope, flavor, raw.as_bytes(), rep, counts);
        }
        changed
    }

    /// The recorded result for `raw`, its replacement appended to `masked`.
    fn replay(&mut self, (scope, flavor): (ScopeId, Flavor), raw: &str) -> Option<bool> {
        self.replayed.clear();
        let replaced = values::replay(
            scope,
            flavor,
            raw.as_bytes(),
            &mut self.replayed,
            &mut self.values.counts,
        )?;
        // Records of this flavor are written from a `str`: borrowed, never lossy.
        self.masked
            .push_str(&String::from_utf8_lossy(&self.replayed));
        Some(replaced)
    }

    /// Masks the whole of `raw` (trimmed of whitespace) as `kind`. `decoded` says that
    /// `self.decoded`/`self.map` hold its decoded form.
    fn mask_field(
        &mut self,
        kind: crate::vocab::kind::KindId,
        raw: &str,
        decoded: Option<()>,
        escape: fn(&str, &mut String),
    ) -> bool {
        let text = if decoded.is_some() {
            self.decoded.as_str()
        } else {
            raw
        };
        let start = text.len() - text.trim_start().len();
        let end = text.trim_end().len().max(start);
        if start == end {
            return false;
        }
        let raw_at = |i: usize| {
            if decoded.is_some() {
                self.map[i] as usize
            } else {
                i
            }
        };
        let (rs, re) = (raw_at(start), raw_at(end));
        let mut one = String::new();
        if !self.values.mask_field(kind, &text[start..end], &mut one) {
            return false;
        }
        self.masked.push_str(&raw[..rs]);
        escape(&one, &mut self.masked);
        self.masked.push_str(&raw[re..]);
        true
    }

    /// A JSON script body through a [`JsonMasker`]; not JSON → scanned as a script.
    fn mask_json_script(&mut self, raw: &str) -> Result<bool, MaskError> {
        if raw.trim().is_empty() {
            return Ok(false);
        }
        let mut m = JsonMasker::new(self.values.plan().clone());
        self.json_out.clear();
        let r = m
            .push(raw.as_bytes(), &mut self.json_out)
            .and_then(|()| m.finish(&mut self.json_out));
        match r {
            Ok(()) => {
                self.values.counts.add(m.counts());
                if self.json_out == raw.as_bytes() {
                    return Ok(false);
                }
                let out =
                    std::str::from_utf8(&self.json_out).map_err(|_| MaskError::Malformed {
                        format: FORMAT,
                        offset: 0,
                        reason: "masked JSON script is not UTF-8",
                    })?;
                // A replacement must not close the script early.
                if out.to_ascii_lowercase().contains("</script") {
                    return Err(MaskError::Malformed {
                        format: FORMAT,
                        offset: 0,
                        reason: "a replacement would close a JSON script",
                    });
                }
                self.masked.push_str(out);
                Ok(true)
            }
            Err(MaskError::CapExceeded { cap, limit }) => {
                Err(MaskError::CapExceeded { cap, limit })
            }
            Err(_) => Ok(self.mask_decoded(raw, js::decode, js::escape, None)),
        }
    }

    fn take_node_ctx(&mut self) -> TextCtx {
        let c = self.chunk_ctx;
        self.chunk_ctx = TextCtx::default();
        if c.target.is_some() {
            self.node_ctx = c;
        }
        self.node_ctx
    }

    /// The text handler: copies each fragment of a node into `text` and lets lol_html write
    /// it out as it came; at the node's last fragment, masks the whole node and, if it
    /// changes, takes the fragments back out of the output and writes the masked node in
    /// their place. (lol_html ends every text node with an empty last fragment, so removing
    /// fragments and re-inserting the node, which cost a mutation per node, is avoided.)
    /// The fragments written so far are never handed to the caller: [`lend`]
    /// cuts them off at the end of a call and the node is then re-emitted whole.
    fn on_text(&mut self, chunk: &mut TextChunk<'_>) -> Result<(), MaskError> {
        self.take_node_ctx();
        if self.node_start.is_none() {
            self.node_start = Some(OUTPUT.with(|o| o.borrow().len()));
        }
        if self.text.len() + chunk.as_str().len() > self.max_value {
            return Err(self.cap());
        }
        self.text.push_str(chunk.as_str());
        if !chunk.last_in_text_node() {
            return Ok(());
        }
        let start = self.node_start.take().unwrap_or_default();
        let ctx = std::mem::take(&mut self.node_ctx);
        let raw = std::mem::take(&mut self.text);
        let masked = self.mask_node(&raw, chunk.text_type(), ctx);
        let was_cut = std::mem::take(&mut self.node_cut);
        let r = match masked {
            Ok(Some(m)) => {
                OUTPUT.with(|o| o.borrow_mut().truncate(start));
                chunk.replace(&m, ContentType::Html);
                self.masked = m;
                Ok(())
            }
            Ok(None) if was_cut => {
                OUTPUT.with(|o| o.borrow_mut().truncate(start));
                chunk.replace(&raw, ContentType::Html);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        self.text = raw;
        self.text.clear();
        r
    }

    /// At the end of a rewriter call: a text node still open has its fragments written so
    /// far at `node_start..` in `out`; they are cut off (they may hold half of a value) and
    /// the node is re-emitted whole from `text` at its last fragment.
    fn cut_open_node(&mut self, out: &mut Vec<u8>) {
        if let Some(start) = self.node_start {
            out.truncate(start);
            self.node_cut = true;
        }
    }

    /// At the start of a rewriter call: an open node's next fragments start at the end of
    /// `out`.
    fn reopen_node(&mut self, out: &[u8]) {
        if self.node_start.is_some() {
            self.node_start = Some(out.len());
        }
    }

    fn on_comment(&mut self, c: &mut Comment<'_>) -> Result<(), MaskError> {
        let raw = c.text();
        if raw.len() > self.max_value {
            return Err(self.cap());
        }
        self.masked.clear();
        if self.mask_html_text(&raw) {
            let m = std::mem::take(&mut self.masked);
            c.set_text(&m).map_err(|_| MaskError::Malformed {
                format: FORMAT,
                offset: 0,
                reason: "a replacement cannot be written in a comment",
            })?;
            self.masked = m;
        }
        Ok(())
    }

    fn on_element(&mut self, el: &mut Element<'_, '_>) -> Result<(), MaskError> {
        let rules = std::mem::take(&mut self.attr_rules);
        // Changed attributes: (name, start, end of the new value in `values`).
        let mut changes = std::mem::take(&mut self.attr_changes);
        let mut values = std::mem::take(&mut self.attr_values);
        let mut seen = std::mem::take(&mut self.attr_seen);
        let mut dups = std::mem::take(&mut self.attr_dups);
        changes.clear();
        values.clear();
        seen.clear();
        dups.clear();
        // The first `type` attribute's value (what `get_attribute("type")` returns), read in
        // the loop below so that the tag name is only asked for (a String) when it matters.
        let mut type_attr: Option<String> = None;
        for attr in el.attributes() {
            let name = attr.name();
            if type_attr.is_none() && name == "type" {
                type_attr = Some(attr.value());
            }
            let rule = rules
                .iter()
                .rev()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| *t);
            if rule.is_none() && !scanned_attribute(&name) {
                continue;
            }
            let raw = attr.value();
            if raw.is_empty() {
                continue;
            }
            if raw.len() > self.max_value {
                return Err(self.cap());
            }
            // A repeated name: lol_html sets (and browsers read) only the first occurrence.
            let dup = seen.iter().any(|&(a, b)| values[a..b] == *name);
            if !dup {
                let from = values.len();
                values.push_str(&name);
                seen.push((from, values.len()));
            }
            self.masked.clear();
            let changed = match rule {
                Some(FieldTarget::Ignore) => false,
                Some(FieldTarget::Scan(set)) => {
                    let route_scan = self.values.set_scan(set);
                    let c = self.mask_html_text(&raw);
                    self.values.set_scan(route_scan);
                    c
                }
                Some(FieldTarget::Kind(kind)) => {
                    let decoded = entity::decode(&raw, &mut self.decoded, &mut self.map);
                    self.mask_field(kind, &raw, decoded.then_some(()), entity::escape)
                }
                None => self.mask_html_text(&raw),
            };
            if changed && dup {
                if !dups.contains(&name) {
                    dups.push(name);
                }
            } else if changed {
                let from = values.len();
                values.push_str(&self.masked);
                changes.push((name, from, values.len()));
            }
        }
        // A later occurrence of a name holds a value to mask: every occurrence goes, and the
        // first one's value (masked if it needs to be) is written back once. What a browser
        // reads is unchanged; the clear value is not left in a duplicate.
        for name in dups.drain(..) {
            let first = match changes.iter().position(|(n, _, _)| *n == name) {
                Some(i) => {
                    let (_, from, to) = changes.remove(i);
                    values[from..to].to_owned()
                }
                None => el.get_attribute(&name).unwrap_or_default(),
            };
            el.remove_attribute(&name);
            el.set_attribute(&name, &first)
                .map_err(|e| MaskError::Rewriter {
                    format: FORMAT,
                    reason: e.to_string(),
                })?;
        }
        self.script_json = type_attr.is_some_and(|t| {
            let t = t
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            t == "application/json" || t == "application/ld+json"
        }) && el.tag_name() == "script";
        for (name, from, to) in changes.drain(..) {
            el.set_attribute(&name, &values[from..to])
                .map_err(|e| MaskError::Rewriter {
                    format: FORMAT,
                    reason: e.to_string(),
                })?;
        }
        self.attr_changes = changes;
        self.attr_values = values;
        self.attr_seen = seen;
        self.attr_dups = dups;
        self.attr_rules = rules;
        self.attr_rules.clear();
        Ok(())
    }

    fn cap(&self) -> MaskError {
        MaskError::CapExceeded {
            cap: crate::Cap::HtmlText,
            limit: self.max_value,
        }
    }
}

fn no_decode(_: &str, _: &mut String, _: &mut Vec<u32>) -> bool {
    false
}

/// Replacements inside `<style>`-like raw text: no references exist there, so only make sure
/// a replacement cannot close the element.
fn escape_raw_text(s: &str, out: &mut String) {
    for c in s.chars() {
        out.push(match c {
            '<' => '\u{FF1C}',
            '>' => '\u{FF1E}',
            c => c,
        });
    }
}

/// Attributes the detectors always scan.
fn scanned_attribute(name: &str) -> bool {
    matches!(
        name,
        "href" | "value" | "title" | "alt" | "placeholder" | "content" | "aria-label" | "label"
    ) || name.starts_with("data-")
}

/// `*`, parsed once.
fn any_element() -> &'static Selector {
    static ANY: OnceLock<Selector> = OnceLock::new();
    ANY.get_or_init(|| "*".parse().expect("a valid selector"))
}

fn into_handler_error(e: MaskError) -> HandlerError {
    Box::new(e)
}

/// The streaming HTML masker. See the module docs.
pub struct HtmlMasker {
    rewriter: Option<HtmlRewriter<'static, Sink>>,
    /// The handlers' state; lent to them (taken out of here) while the rewriter runs.
    state: Option<Box<State>>,
    passthrough: bool,
    poisoned: bool,
}

impl std::fmt::Debug for HtmlMasker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HtmlMasker")
            .field("passthrough", &self.passthrough)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl HtmlMasker {
    /// A masker for one document. The route's HTML field rules were validated when the rules
    /// were compiled; a selector that still fails to parse here poisons the masker.
    pub fn new(plan: MaskPlan) -> Self {
        if plan.is_passthrough() {
            return HtmlMasker {
                rewriter: None,
                state: None,
                passthrough: true,
                poisoned: false,
            };
        }
        let max_value = plan.limits().max_value;
        let fields = plan.fields().clone();
        let state = Box::new(State {
            values: ValueMasker::new(plan),
            max_value,
            text: String::new(),
            node_start: None,
            node_cut: false,
            chunk_ctx: TextCtx::default(),
            node_ctx: TextCtx::default(),
            script_json: false,
            attr_rules: Vec::new(),
            attr_changes: Vec::new(),
            attr_values: String::new(),
            attr_seen: Vec::new(),
            attr_dups: Vec::new(),
            decoded: String::new(),
            map: Vec::new(),
            masked: String::new(),
            replayed: Vec::new(),
            json_out: Vec::new(),
        });
        let mut poisoned = false;
        let mut settings = Settings::new_send()
            .with_strict(true)
            .with_memory_settings(
                MemorySettings::new()
                    .with_max_allowed_memory_usage(max_value.saturating_add(PARSER_SLACK))
                    .with_graceful_bail_out_on_memory_limit_exceeded(false),
            )
            .with_graceful_bail_out_on_content_handler_error(false);
        // Selector-bound handlers first: lol_html runs element-content handlers before the
        // document-wide ones, and in registration order, so the catch-all handlers below see
        // what the field rules marked.
        for ((_, attr, target), selector) in fields.html.iter().zip(fields.html_selectors()) {
            let Some(selector) = selector else {
                poisoned = true;
                continue;
            };
            let target = *target;
            let handlers = match attr {
                None => ElementContentHandlers::default().text(move |_: &mut TextChunk<'_>| {
                    with_state(|st| st.chunk_ctx.target = Some(target));
                    Ok(())
                }),
                Some(attr) => {
                    let attr = attr.to_ascii_lowercase();
                    ElementContentHandlers::default().element(move |_: &mut Element<'_, '_>| {
                        with_state(|st| st.attr_rules.push((attr.clone(), target)));
                        Ok(())
                    })
                }
            };
            settings = settings.append_element_content_handler((Cow::Borrowed(selector), handlers));
        }
        settings = settings.append_element_content_handler((
            Cow::Borrowed(any_element()),
            ElementContentHandlers::default().element(|el: &mut Element<'_, '_>| {
                with_state(|st| st.on_element(el)).map_err(into_handler_error)
            }),
        ));
        settings = settings.append_document_content_handler(
            DocumentContentHandlers::default()
                .text(|t: &mut TextChunk<'_>| {
                    with_state(|st| st.on_text(t)).map_err(into_handler_error)
                })
                .comments(|c: &mut Comment<'_>| {
                    with_state(|st| st.on_comment(c)).map_err(into_handler_error)
                }),
        );
        let rewriter = HtmlRewriter::new(settings, Sink);
        HtmlMasker {
            rewriter: Some(rewriter),
            state: Some(state),
            passthrough: false,
            poisoned,
        }
    }

    /// What was masked and what was served clear so far.
    pub fn counts(&self) -> MatchCounts {
        self.state
            .as_ref()
            .map(|s| s.values.counts.clone())
            .unwrap_or_default()
    }

    /// Poisons the masker after a rewriter error; `out` loses what the failing call wrote.
    fn fail(&mut self, e: RewritingError, out: &mut Vec<u8>, written_before: usize) -> MaskError {
        self.poisoned = true;
        self.rewriter = None;
        out.truncate(written_before);
        to_mask_error(e)
    }
}

fn to_mask_error(e: RewritingError) -> MaskError {
    match e {
        RewritingError::ContentHandlerError(inner) => match inner.downcast::<MaskError>() {
            Ok(m) => *m,
            Err(other) => MaskError::Rewriter {
                format: FORMAT,
                reason: other.to_string(),
            },
        },
        other => MaskError::Rewriter {
            format: FORMAT,
            reason: other.to_string(),
        },
    }
}

impl FormatSteps for HtmlMasker {
    fn passthrough(&self) -> bool {
        self.passthrough
    }

    fn poisoned(&mut self) -> &mut bool {
        &mut self.poisoned
    }

    fn step(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        let Some(rw) = self.rewriter.as_mut() else {
            return Err(MaskError::Poisoned);
        };
        let before = out.len();
        lend(&mut self.state, out, || rw.write(chunk)).map_err(|e| self.fail(e, out, before))
    }

    /// The handlers' buffers, and lol_html's own counted at the most it is allowed.
    fn held(&self) -> Option<(usize, Budget)> {
        let st = self.state.as_deref()?;
        let held = st.held() + st.max_value + PARSER_SLACK;
        Some((held, Budget::of(st.values.plan().limits())))
    }

    fn end(&mut self, out: &mut Vec<u8>) -> Result<(), MaskError> {
        let Some(rw) = self.rewriter.take() else {
            return Err(MaskError::Poisoned);
        };
        let before = out.len();
        lend(&mut self.state, out, || rw.end()).map_err(|e| self.fail(e, out, before))
    }
}

/// Runs one rewriter call with `state` and `out` lent to the handlers and the sink. A text
/// node still open when the call returns is cut from `out` (it is re-emitted whole at its
/// last fragment, in a later call): a call never hands out part of a node.
fn lend(
    state: &mut Option<Box<State>>,
    out: &mut Vec<u8>,
    call: impl FnOnce() -> Result<(), RewritingError>,
) -> Result<(), RewritingError> {
    if let Some(st) = state.as_mut() {
        st.reopen_node(out);
    }
    {
        let _lent = Lent::new(state, out);
        call()?;
    }
    if let Some(st) = state.as_mut() {
        st.cut_open_node(out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask_all;
    use crate::testutil::{assert_chunk_invariant, fallback_plan, plan};

    const FIXTURE: &str = include_str!("../../../../tests/data/html/contacts.html");

    const ROUTES: &str = r#"
routes:
  - name: page
    match: { path: "/contacts" }
    html:
      ".contact-name": name
      ".contact-name @title": name
      "[data-field=email]": email
      "tr @data-phone": ignore
"#;

    fn mask(p: &MaskPlan, input: &str) -> String {
        let make = |p| Box::new(HtmlMasker::new(p)) as Box<dyn Masker + Send>;
        String::from_utf8(assert_chunk_invariant(&make, p, input.as_bytes())).unwrap()
    }

    fn assert_absent(out: &str, values: &[&str]) {
        for v in values {
            assert!(!out.contains(v), "{v:?} left in:\n{out}");
        }
    }

    fn assert_present(out: &str, values: &[&str]) {
        for v in values {
            assert!(out.contains(v), "{v:?} missing from:\n{out}");
        }
    }

    const PHONES: &[&str] = &[
        "99876-5432",
        "5511987654321",
        "1512 3456789",
        "4915123456789",
        "351912345678",
        "&#43;351",
        "912 345 678",
        "300 123 4567",
        "6281234567890",
        "91234-5678",
        "0812-9876-5432",
    ];
    const EMAILS: &[&str] = &[
        "bia.santos",
        "lucas.pereira",
        "juergen.mueller",
        "joao.goncalves",
        "andres.ramirez",
    ];
    const KEEP: &[&str] = &[
        "PED-58213",
        "2025112014010042",
        "2025.11.3-1763640000",
        "20/11/2025 14:01",
        "placeholder=\"nome@exemplo\"",
        "Pedido 58213 &amp; atualizado",
        "&middot;",
        "<b>&lt;ok&gt;</b>",
        r#"content:"\260E""#,
        r#""https:\/\/chat.example.com\/app""#,
        r#"data-contact-id="202""#,
        "?subject=Pedido%2058213",
        "amanh&atilde;</textarea>",
        "<!doctype html>",
    ];

    #[test]
    fn html_fixture_masks_detected_pii_and_keeps_the_rest() {
        let p = fallback_plan("agent");
        let out = mask(&p, FIXTURE);
        assert_absent(&out, PHONES);
        assert_absent(&out, EMAILS);
        assert_present(&out, KEEP);
        // Attributes: contact links, value, aria-label, data-*.
        assert_present(
            &out,
            &[
                "href=\"tel:vt_phone_k1_",
                "href=\"mailto:[email]\"",
                "value=\"[email]\"",
            ],
        );
        assert_present(
            &out,
            &[
                "aria-label=\"Telefone vt_phone_k1_",
                "data-phone=\"vt_phone_",
            ],
        );
        assert_present(&out, &["href=\"https://wa.me/vt_phone_k1_"]);
        // Without field rules, names stay.
        assert_present(&out, &["J&uuml;rgen M&uuml;ller"]);
    }

    #[test]
    fn html_scripts_json_and_inline_state_are_masked() {
        let p = fallback_plan("agent");
        let out = mask(&p, FIXTURE);
        // The JSON script is still JSON with the same shape.
        let start = out.find("id=\"state\">").unwrap() + "id=\"state\">".len();
        let end = start + out[start..].find("</script>").unwrap();
        let v: serde_json::Value = serde_json::from_str(&out[start..end]).unwrap();
        assert!(v["contacts"][0]["phone"]
            .as_str()
            .unwrap()
            .starts_with("vt_phone_k1_"));
        assert_eq!(v["contacts"][0]["email"], "[email]");
        assert_eq!(v["contacts"][0]["order"], "PED-58213");
        assert!(out.contains(r#""telephone":"vt_phone_k1_"#), "{out}");
        // Inline state: the escaped values are replaced, other escapes kept.
        assert!(out.contains(r#""wa_id":"vt_phone_k1_"#), "{out}");
        assert!(out.contains(r#""mail":"[email]""#), "{out}");
    }

    #[test]
    fn html_comments_title_and_textarea_are_masked() {
        let p = fallback_plan("agent");
        let out = mask(&p, FIXTURE);
        assert!(
            out.contains("<!-- nota interna: retorno no vt_phone_k1_"),
            "{out}"
        );
        assert!(out.contains("<title>Contatos · vt_phone_k1_"), "{out}");
        assert!(out.contains("Ligar para vt_phone_k1_"), "{out}");
    }

    #[test]
    fn html_character_references_are_decoded_before_matching() {
        let p = fallback_plan("agent");
        let input = "<p>&#43;55 11 98765-4321 &amp; joao.goncalves&#64;example.net &commat; &#x2B;57 300 123 4567</p><p title='&#43;351 912 345 678'>x</p>";
        let out = mask(&p, input);
        assert_absent(
            &out,
            &[
                "98765-4321",
                "joao.goncalves",
                "300 123 4567",
                "912 345 678",
            ],
        );
        assert!(out.starts_with("<p>vt_phone_k1_"), "{out}");
        assert!(out.contains(" &amp; [email] &commat; vt_phone"), "{out}");
    }

    #[test]
    fn html_a_repeated_attribute_cannot_hide_a_value() {
        let p = fallback_plan("agent");
        let input = r#"<a title="Suporte" title="+55 11 98765-4321" href="/x">x</a><b data-a="+55 11 98765-4322" data-a="+55 11 98765-4323">y</b><i title="a" title="b">z</i>"#;
        let out = mask(&p, input);
        assert_absent(&out, &["98765-4321", "98765-4322", "98765-4323"]);
        // The first occurrence, what a browser reads, is kept (masked when it holds a value).
        assert!(
            out.starts_with(r#"<a href="/x" title="Suporte">x</a><b data-a="vt_phone_k1_"#),
            "{out}"
        );
        assert_eq!(out.matches("data-a=").count(), 1, "{out}");
        // Repeated attributes without a value to mask are left as they are.
        assert!(out.ends_with(r#"<i title="a" title="b">z</i>"#), "{out}");
    }

    #[test]
    fn html_replacements_are_escaped() {
        let p = plan(
            "routes:\n  - name: r\n    html:\n      \"b\": email\n",
            "r",
            "agent",
        );
        // The e-mail redaction is "[email]"; a kind the role redacts by default gives
        // "[redacted:…]". Neither needs escaping, so check the escaping with a phone in a
        // script string and a raw-text element instead.
        let out = mask(&p, "<b>a&lt;b</b><style>/* +55 11 98765-4321 */</style>");
        assert_eq!(
            out,
            "<b>[email]</b><style>/* vt_phone_k1_k3b2cu5rgrlxogfgspf23xmalq25fevhnlhtccijiriapal6 */</style>"
                .replace("k3b2cu5rgrlxogfgspf23xmalq25fevhnlhtccijiriapal6", &token_tail(&out))
        );
    }

    fn token_tail(out: &str) -> String {
        let at = out.find("vt_phone_k1_").unwrap() + "vt_phone_k1_".len();
        out[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect()
    }

    #[test]
    fn html_field_rules_mask_by_selector() {
        let p = plan(ROUTES, "page", "agent");
        let out = mask(&p, FIXTURE);
        assert_absent(
            &out,
            &[
                "J&uuml;rgen",
                "Gon&ccedil;alves",
                "Jürgen Müller",
                "dewi at example",
            ],
        );
        // (`"*": redact` writes the kind in its text.)
        assert!(
            out.contains(
                "<td class=\"contact-name\" title=\"[redacted:name]\">[redacted:name]</td>"
            ),
            "{out}"
        );
        assert!(
            out.contains("<span data-field=\"email\">[email]</span>"),
            "{out}"
        );
        // `ignore` keeps the attribute as it is, even though it holds a phone.
        assert!(out.contains("data-phone=\"+4915123456789\""), "{out}");
        assert_absent(&out, &["tel:+4915123456789"]);
    }

    #[test]
    fn html_all_clear_role_gets_the_input_back() {
        let p = fallback_plan("admin");
        assert!(p.is_passthrough());
        assert_eq!(mask(&p, FIXTURE), FIXTURE);
        let p = plan(ROUTES, "page", "admin");
        assert_eq!(mask(&p, FIXTURE), FIXTURE);
    }

    #[test]
    fn html_without_pii_is_byte_identical_for_a_masked_role() {
        let p = fallback_plan("agent");
        let input = "<!DOCTYPE html><html><head><meta name=csrf-token content='q3Yx0fake'>\n\
            <script>window.cfg = { fbAppId: '1234567890123456', sha: \"79381a4c5ff3cd1a2470b927dc3429c1c87c88c5\", s: '\\u00fc' }</script></head>\n\
            <body class=x><p title=\"a &amp; b\" data-id=987654321098765>Pedido 58213 &mdash; 20/11/2025 &#x41; &bogus; <br/>caf\u{e9}</p><!-- build 2025112014010042 --></body></html>";
        assert_eq!(mask(&p, input), input);
    }

    #[test]
    fn html_text_node_over_the_cap_fails_closed() {
        let p = plan("limits: { max_value: 64 }\nroutes: []\n", "(none)", "agent");
        let mut m = HtmlMasker::new(p.clone());
        let long = format!("<p>{}</p>", "a".repeat(100));
        let mut out = Vec::new();
        let r = m
            .push(long.as_bytes(), &mut out)
            .and_then(|()| m.finish(&mut out));
        assert!(matches!(r, Err(MaskError::CapExceeded { .. })), "{r:?}");
        assert_eq!(m.push(b"<p>", &mut out), Err(MaskError::Poisoned));
        // A node under the cap is fine.
        let ok = mask_all(&mut HtmlMasker::new(p), b"<p>+55 11 98765-4321</p>").unwrap();
        assert!(String::from_utf8(ok)
            .unwrap()
            .starts_with("<p>vt_phone_k1_"));
    }

    #[test]
    fn html_maskers_interleaved_on_one_thread_keep_their_own_state() {
        // Each push lends a masker's state to the thread; two documents pushed in
        // alternation, each split inside a text node, must come out as each does alone.
        let agent = fallback_plan("agent");
        let admin = fallback_plan("admin");
        let a = FIXTURE.as_bytes();
        let b = b"<p>Ligue +55 11 98765-4321 ou escreva para ana@example.com</p>";
        let alone_a = mask_all(&mut HtmlMasker::new(agent.clone()), a).unwrap();
        let alone_b = mask_all(&mut HtmlMasker::new(admin.clone()), b).unwrap();
        let (mut ma, mut mb) = (HtmlMasker::new(agent), HtmlMasker::new(admin));
        let (mut oa, mut ob) = (Vec::new(), Vec::new());
        let mut ca = a.chunks(7);
        let mut cb = b.chunks(5);
        loop {
            let (x, y) = (ca.next(), cb.next());
            if x.is_none() && y.is_none() {
                break;
            }
            if let Some(x) = x {
                ma.push(x, &mut oa).unwrap();
            }
            if let Some(y) = y {
                mb.push(y, &mut ob).unwrap();
            }
        }
        ma.finish(&mut oa).unwrap();
        mb.finish(&mut ob).unwrap();
        assert_eq!(
            String::from_utf8(oa).unwrap(),
            String::from_utf8(alone_a).unwrap()
        );
        assert_eq!(ob, alone_b);
        assert_eq!(ob, b.to_vec(), "the admin role sees the document unchanged");
    }

    #[test]
    fn html_a_failing_call_keeps_earlier_output_and_drops_its_own() {
        let p = plan("limits: { max_value: 64 }\nroutes: []\n", "(none)", "agent");
        let mut m = HtmlMasker::new(p);
        let mut out = b"before|".to_vec();
        m.push(b"<p>ok</p><div>", &mut out).unwrap();
        let kept = out.clone();
        assert!(
            kept.starts_with(b"before|<p>ok</p>"),
            "{}",
            String::from_utf8_lossy(&kept)
        );
        let long = format!("<i>x</i><p>+55 11 98765-4321 {}</p>", "a".repeat(100));
        let r = m.push(long.as_bytes(), &mut out);
        assert!(matches!(r, Err(MaskError::CapExceeded { .. })), "{r:?}");
        assert_eq!(out, kept, "output of the failing call was not dropped");
        // The masker's state went back to it, and the next one on this thread starts clean.
        assert_eq!(m.push(b"<p>", &mut out), Err(MaskError::Poisoned));
        let next = mask_all(
            &mut HtmlMasker::new(fallback_plan("agent")),
            b"<p>+55 11 98765-4321</p>",
        )
        .unwrap();
        assert!(String::from_utf8(next)
            .unwrap()
            .starts_with("<p>vt_phone_k1_"));
    }

    /// Text nodes and attribute values replay this thread's earlier result for the same
    /// string: the same output and counts as the first pass, never a JSON string's
    /// replacement (quoted, JSON-escaped) for the same raw text, never another role's.
    #[test]
    fn html_text_replayed_from_the_value_cache_is_written_for_html_and_the_role() {
        crate::clear_thread_caches();
        let agent = fallback_plan("agent");
        // The same raw text, first seen as a JSON string value.
        let json = mask_all(
            &mut crate::format::json::JsonMasker::new(agent.clone()),
            br#"{"note":"Ligue &amp; +55 11 98765-4321"}"#,
        )
        .unwrap();
        assert!(String::from_utf8(json)
            .unwrap()
            .contains("\"Ligue &amp; vt_phone"));
        let page =
            "<p>Ligue &amp; +55 11 98765-4321</p><a title=\"Ligue &amp; +55 11 98765-4321\">x</a>";
        let mut first = HtmlMasker::new(agent.clone());
        let cold = String::from_utf8(mask_all(&mut first, page.as_bytes()).unwrap()).unwrap();
        assert!(cold.starts_with("<p>Ligue &amp; vt_phone_k1_"), "{cold}");
        assert_absent(&cold, &["98765", "<p>\"", "=\"\""]);
        let mut second = HtmlMasker::new(agent);
        let warm = String::from_utf8(mask_all(&mut second, page.as_bytes()).unwrap()).unwrap();
        assert_eq!(warm, cold);
        assert_eq!(second.counts(), first.counts());
        // Another role does not get the agent's replacement.
        let admin = mask_all(
            &mut HtmlMasker::new(fallback_plan("admin")),
            page.as_bytes(),
        );
        assert_eq!(String::from_utf8(admin.unwrap()).unwrap(), page);
    }

    /// A call that ends inside a text node hands out nothing of that node (its fragments may
    /// be half a value); the node comes whole, masked or as it was, with its last fragment.
    #[test]
    fn html_a_text_node_open_at_the_end_of_a_call_is_held_back() {
        let p = fallback_plan("agent");
        let mut m = HtmlMasker::new(p);
        let mut out = Vec::new();
        m.push(b"<td>Ligar para +55 11 987", &mut out).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "<td>");
        m.push(b"65-4321 hoje", &mut out).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "<td>");
        m.push(b"</td><td>sem n", &mut out).unwrap();
        let s = String::from_utf8(out.clone()).unwrap();
        assert!(s.starts_with("<td>Ligar para vt_phone_k1_"), "{s}");
        assert!(s.ends_with(" hoje</td><td>"), "{s}");
        assert_absent(&s, &["987", "4321"]);
        m.push(b"umero</td>", &mut out).unwrap();
        m.finish(&mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.ends_with(" hoje</td><td>sem numero</td>"), "{s}");
    }

    /// Runs the shared corpus HTML pages when `../shared/corpus` exists.
    #[test]
    fn html_corpus_pages() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
        if !dir.exists() {
            println!("skipped: {} not found", dir.display());
            return;
        }
        let p = fallback_plan("agent");
        for name in ["chatwoot/dashboard", "generic/inbox-contacts-page"] {
            let input = std::fs::read_to_string(dir.join(format!("{name}.html"))).unwrap();
            let expect: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join(format!("{name}.expect.json"))).unwrap(),
            )
            .unwrap();
            let out = mask(&p, &input);
            let list = |k: &str| -> Vec<String> {
                expect[k]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            for v in list("phones").iter().chain(&list("emails")) {
                assert!(!out.contains(v.as_str()), "{name}: {v:?} left");
            }
            for v in list("keep").iter().chain(&list("secrets")) {
                // Known detector limit: `nome@exemplo.com` (a placeholder) is a well-formed
                // address, and the e-mail detector masks it.
                if v == "nome@exemplo.com" {
                    continue;
                }
                assert!(out.contains(v.as_str()), "{name}: {v:?} changed");
            }
        }
    }
}
