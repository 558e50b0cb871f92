//! Masking text: whole values ([`ValueMasker`]) and streaming plain text ([`TextMasker`]).
//!
//! [`ValueMasker`] is the one place where findings meet actions; every format masker
//! (JSON strings, HTML text nodes, CSV cells, SSE data) calls it on decoded values.
use crate::cache::memos;
use crate::cache::scope::{self, ScopeId};
use crate::detect::Finding;
use crate::vocab::action::Action;
use crate::vocab::counts::MatchCounts;
use crate::vocab::kind::KindId;
use crate::vocab::plan::MaskPlan;
use crate::{MaskError, Masker};

/// Applies the role's action for `kind` to `raw`, appending the replacement to `out`.
/// Tokens and hashes (the costly actions) are cached per scope ([`memos`]).
fn apply_action(
    plan: &MaskPlan,
    scope: ScopeId,
    kind: KindId,
    raw: &str,
    normalized: &str,
    out: &mut String,
) {
    let action = plan.role().action(kind);
    if !matches!(action, Action::Token | Action::Hash) {
        action.apply(plan.kinds().name(kind), raw, normalized, plan.keys(), out);
        return;
    }
    let tag = memos::token_tag(kind, *action == Action::Hash);
    if memos::replay_token(scope, tag, normalized, out) {
        return;
    }
    let from = out.len();
    action.apply(plan.kinds().name(kind), raw, normalized, plan.keys(), out);
    memos::remember_token(scope, tag, normalized, &out[from..]);
}

/// Masks decoded values with a plan; keeps its scratch buffers between calls.
#[derive(Debug)]
pub struct ValueMasker {
    plan: MaskPlan,
    /// The plan's scope, as the caches know it ([`crate::cache::scope`]).
    scope: ScopeId,
    /// The scope of each scan list this masker has run with (the route's first): a field
    /// rule narrows the list for one value and restores it after, and looking the scope up
    /// again each time would cost a table search per value.
    scopes: Vec<(crate::detect::DetectorSet, ScopeId)>,
    findings: Vec<Finding>,
    cache: crate::detect::ScanCache,
    splice_scratch: String,
    pub counts: MatchCounts,
}

impl ValueMasker {
    pub fn new(plan: MaskPlan) -> Self {
        let scope = scope::enter(plan.scope());
        ValueMasker {
            scope,
            scopes: vec![(plan.scan(), scope)],
            plan,
            findings: Vec::new(),
            cache: Default::default(),
            splice_scratch: String::new(),
            counts: MatchCounts::default(),
        }
    }

    /// Sets the detectors that free-text values run through; returns the previous set.
    /// (A field rule may narrow them for one value: [`FieldTarget::Scan`](crate::vocab::plan::FieldTarget::Scan).)
    pub fn set_scan(&mut self, scan: crate::detect::DetectorSet) -> crate::detect::DetectorSet {
        let old = self.plan.set_scan(scan);
        if old != scan {
            self.scope = match self.scopes.iter().find(|(s, _)| *s == scan) {
                Some(&(_, id)) => id,
                None => {
                    let id = scope::enter(self.plan.scope());
                    self.scopes.push((scan, id));
                    id
                }
            };
        }
        old
    }

    /// Bytes this masker's buffers hold (the response's memory budget).
    pub fn held(&self) -> usize {
        self.findings.capacity() * std::mem::size_of::<Finding>() + self.splice_scratch.capacity()
    }

    /// The plan values are masked with.
    pub fn plan(&self) -> &MaskPlan {
        &self.plan
    }

    /// The plan's scope id: what every cache entry this masker reads or writes is keyed by.
    pub fn scope(&self) -> ScopeId {
        self.scope
    }

    /// Scans `text[scan_from..]` with the route's detectors; the findings are left in
    /// [`Self::findings`]. Returns whether any finding needs a change.
    pub fn scan(&mut self, text: &str, scan_from: usize) -> bool {
        self.findings.clear();
        let (detectors, scan) = (&self.plan.detectors(), self.plan.scan());
        if scan_from == 0 && text.len() <= memos::MAX_LEN {
            // Short values (a cell, a text node, a JSON string) repeat across responses:
            // their findings are cached per thread, behind the prefilter.
            if !detectors.may_match(text.as_bytes(), scan) {
                return false;
            }
            if !memos::replay_findings(self.scope, text, &mut self.findings) {
                detectors.scan_with(text, 0, scan, &mut self.findings, &mut self.cache);
                memos::remember_findings(self.scope, text, &self.findings);
            }
        } else {
            detectors.scan_with(text, scan_from, scan, &mut self.findings, &mut self.cache);
        }
        self.any_to_change()
    }

    /// [`Self::scan`] of a whole value, without the findings cache: for a caller that
    /// caches the masked value itself (the JSON masker), so the value is neither
    /// prefiltered again nor stored twice.
    pub fn scan_uncached(&mut self, text: &str) -> bool {
        self.findings.clear();
        let (detectors, scan) = (&self.plan.detectors(), self.plan.scan());
        detectors.scan_with(text, 0, scan, &mut self.findings, &mut self.cache);
        self.any_to_change()
    }

    /// Does any finding of the last scan need a change for this role?
    fn any_to_change(&self) -> bool {
        let role = &self.plan.role();
        self.findings
            .iter()
            .any(|f| *role.action(f.kind) != Action::Clear)
    }

    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The kind of each finding of the last scan, and whether the role sees it in the
    /// clear: what the [`value_cache`](crate::cache::values) records to count a replay.
    pub fn finding_counts(&self) -> impl Iterator<Item = (KindId, bool)> + '_ {
        let role = &self.plan.role();
        self.findings
            .iter()
            .map(|f| (f.kind, *role.action(f.kind) == Action::Clear))
    }

    /// Writes `text[from..to]` to `out` with every finding inside that range replaced.
    /// Findings must come from [`Self::scan`] of the same text.
    pub fn write_replaced(&mut self, text: &str, from: usize, to: usize, out: &mut String) {
        let mut at = from;
        for f in self
            .findings
            .iter()
            .filter(|f| f.start >= from && f.end <= to)
        {
            out.push_str(&text[at..f.start]);
            let raw = &text[f.start..f.end];
            let action = self.plan.role().action(f.kind);
            self.counts.bump(f.kind, *action == Action::Clear);
            apply_action(
                &self.plan,
                self.scope,
                f.kind,
                raw,
                f.normalized.as_deref().unwrap_or(raw),
                out,
            );
            at = f.end;
        }
        out.push_str(&text[at..to]);
    }

    /// Counts the findings that end before `to` as served in the clear (the role's action
    /// for them is `clear`).
    pub fn count_clear(&mut self, to: usize) {
        for f in self.findings.iter().filter(|f| f.end <= to) {
            self.counts.bump(f.kind, true);
        }
    }

    /// Writes `raw` to `out` with every finding of the last [`Self::scan`] of `text` that the
    /// role does not see in the clear replaced by its replacement, passed through `escape`.
    /// `map` gives, for each byte offset of `text`, the offset in `raw` it was decoded from
    /// (`map.len() == text.len() + 1`); `None` when `text` is `raw`. Bytes outside findings,
    /// and findings served in the clear, are copied from `raw` unchanged.
    pub fn splice(
        &mut self,
        raw: &str,
        text: &str,
        map: Option<&[u32]>,
        escape: fn(&str, &mut String),
        out: &mut String,
    ) {
        let raw_at = |i: usize| map.map_or(i, |m| m[i] as usize);
        let mut at = 0;
        let mut one = std::mem::take(&mut self.splice_scratch);
        for i in 0..self.findings.len() {
            let (start, end, kind) = {
                let f = &self.findings[i];
                (f.start, f.end, f.kind)
            };
            let (rs, re) = (raw_at(start), raw_at(end));
            if rs < at || *self.plan.role().action(kind) == Action::Clear {
                self.counts.bump(kind, true);
                continue;
            }
            out.push_str(&raw[at..rs]);
            one.clear();
            self.write_replaced(text, start, end, &mut one);
            escape(&one, out);
            at = re;
        }
        out.push_str(&raw[at..]);
        self.splice_scratch = one;
    }

    /// Masks a whole free-text value. Returns `false` (and writes nothing) when the value
    /// needs no change, so the caller can copy its raw bytes.
    pub fn mask_text(&mut self, text: &str, out: &mut String) -> bool {
        if !self.scan(text, 0) {
            self.count_clear(text.len());
            return false;
        }
        self.write_replaced(text, 0, text.len(), out);
        true
    }

    /// Whether this role sees `kind` in the clear.
    pub fn is_clear(&self, kind: KindId) -> bool {
        *self.plan.role().action(kind) == Action::Clear
    }

    /// Masks a value that a field rule says is PII of `kind`, whatever it looks like.
    /// When the role sees `kind` in the clear, the value is still free text for the
    /// detectors (a contact "name" that is a phone number). Returns whether it wrote a
    /// changed value.
    pub fn mask_field(&mut self, kind: KindId, value: &str, out: &mut String) -> bool {
        let action = self.plan.role().action(kind);
        if *action == Action::Clear {
            self.counts.bump(kind, true);
            return self.mask_text(value, out);
        }
        if value.is_empty() {
            return false;
        }
        self.counts.bump(kind, false);
        // A field's value (a contact's phone, e-mail, name) repeats across responses: its
        // replacement is cached per thread, keyed by everything it depends on.
        let tag = u32::from(kind.0);
        if memos::replay_field(self.scope, tag, value, out) {
            return true;
        }
        let from = out.len();
        let normalized = self.plan.detectors().normalize(kind, value);
        apply_action(
            &self.plan,
            self.scope,
            kind,
            value,
            normalized.as_deref().unwrap_or(value),
            out,
        );
        memos::remember_field(self.scope, tag, value, &out[from..]);
        true
    }
}

impl Drop for ValueMasker {
    /// A document is done: its cache counts join the process totals (the metrics).
    fn drop(&mut self) {
        crate::cache::stats::flush();
    }
}

/// Bytes of already-emitted text kept before the pending text, so that detectors see what
/// precedes a value (is `2024-118` the tail of `K-2024-118`?).
const CONTEXT: usize = 32;

/// A streaming masker for plain text.
///
/// What it holds back: the last [`Detectors::max_match_len`](crate::detect::Detectors::max_match_len)
/// bytes (a value that may still be growing) plus up to one chunk, so a phone number split
/// across two network chunks is still caught. Output lags input by that window; memory is
/// bounded by it, not by the body.
///
/// Invalid UTF-8 is not rejected: the bytes that are not UTF-8 are emitted as they are
/// (they cannot be part of a value), and detection goes on around them.
#[derive(Debug)]
pub struct TextMasker {
    values: ValueMasker,
    /// Pending bytes; the first `ctx` of them were already emitted.
    buf: Vec<u8>,
    ctx: usize,
    window: usize,
    scratch: String,
    poisoned: bool,
}

impl TextMasker {
    pub fn new(plan: MaskPlan) -> Self {
        let window = plan.detectors().max_match_len() + 8;
        TextMasker {
            values: ValueMasker::new(plan),
            buf: Vec::new(),
            ctx: 0,
            window,
            scratch: String::new(),
            poisoned: false,
        }
    }

    pub fn counts(&self) -> &MatchCounts {
        &self.values.counts
    }

    fn process(&mut self, last: bool, out: &mut Vec<u8>) {
        loop {
            // The valid UTF-8 prefix of the pending bytes.
            let (valid_len, bad_len) = match crate::format::utf8::check(&self.buf) {
                Ok(_) => (self.buf.len(), 0),
                Err(e) => (e.valid_up_to(), e.error_len().unwrap_or(0)),
            };
            let text = crate::format::utf8::check(&self.buf[..valid_len]).expect("checked prefix");
            let whole = last || bad_len > 0;
            let mut cut = if whole {
                valid_len
            } else {
                if valid_len < self.ctx + 2 * self.window {
                    return;
                }
                floor_char_boundary(text, valid_len - self.window)
            };
            if cut <= self.ctx && !whole {
                return;
            }
            let changed = self.values.scan(text, self.ctx);
            if !whole {
                if let Some(f) = self.values.findings().iter().find(|f| f.end > cut) {
                    cut = cut.min(f.start);
                }
            }
            if changed {
                self.scratch.clear();
                self.values
                    .write_replaced(text, self.ctx, cut, &mut self.scratch);
                out.extend_from_slice(self.scratch.as_bytes());
            } else {
                out.extend_from_slice(&self.buf[self.ctx..cut]);
                self.values.count_clear(cut);
            }
            if bad_len > 0 && cut == valid_len {
                // Pass the invalid bytes through and start afresh after them.
                out.extend_from_slice(&self.buf[valid_len..valid_len + bad_len]);
                self.buf.drain(..valid_len + bad_len);
                self.ctx = 0;
                continue;
            }
            if last && bad_len == 0 && valid_len < self.buf.len() {
                // A truncated UTF-8 sequence at the very end: emit as is.
                out.extend_from_slice(&self.buf[valid_len..]);
                self.buf.clear();
                self.ctx = 0;
                return;
            }
            let keep_from = floor_char_boundary(text, cut.saturating_sub(CONTEXT));
            self.buf.drain(..keep_from);
            self.ctx = cut - keep_from;
            return;
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl Masker for TextMasker {
    fn counts(&self) -> Option<&MatchCounts> {
        Some(&self.values.counts)
    }

    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        if self.poisoned {
            return Err(MaskError::Poisoned);
        }
        self.buf.extend_from_slice(chunk);
        // Nothing is emitted before the pending text holds two windows (see `process`): a
        // client sending a byte at a time costs one pass per window, not one per byte.
        if self.buf.len() >= self.ctx + 2 * self.window {
            self.process(false, out);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MaskError> {
        if self.poisoned {
            return Err(MaskError::Poisoned);
        }
        self.process(true, out);
        self.buf.clear();
        self.ctx = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compile::compile_sources;
    use crate::rules::diagnostic::Source;
    use std::sync::Arc;

    /// The plan of the fallback route for `agent` in rules whose one custom detector finds
    /// ticket numbers as kind `kind` (tokenized), with tokens made by `keys`.
    fn plan_with(kind: &str, keys: &Arc<crate::token::KeyRing>) -> MaskPlan {
        let text = format!(
            "detectors:\n  ticket: {{ regex: 'TKT-[0-9]{{6}}', kind: {kind} }}\nroles:\n  agent:\n    actions:\n      {kind}: token\n      \"*\": redact\ndefault_role: agent\n"
        );
        let sources = vec![Source {
            path: "rules.yaml".into(),
            text,
        }];
        let (set, _) = compile_sources(&sources, Vec::new()).expect("rules compile");
        let role = set.role("agent").expect("agent");
        set.plan(&set.fallback, role, keys)
    }

    #[test]
    fn a_reload_that_keeps_the_keys_gets_tokens_of_its_own_kinds() {
        let keys = Arc::new(crate::token::KeyRing::parse(crate::testutil::TEST_KEY).unwrap());
        let value = "chamado TKT-123456 aberto";
        let mut out = String::new();
        assert!(ValueMasker::new(plan_with("ticket", &keys)).mask_text(value, &mut out));
        assert!(
            out.contains("vt_ticket_") && !out.contains("123456"),
            "{out}"
        );
        assert!(
            out.starts_with("chamado ") && out.ends_with(" aberto"),
            "{out}"
        );
        // The same kind id, named otherwise by the reloaded rules: the cached token of the
        // old rules must not be served.
        out.clear();
        assert!(ValueMasker::new(plan_with("pedido", &keys)).mask_text(value, &mut out));
        assert!(
            out.contains("vt_pedido_") && !out.contains("123456"),
            "{out}"
        );
    }
}
