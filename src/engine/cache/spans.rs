//! Spans this thread has masked, with their output: a JSON container or a CSV record that
//! comes again, in the same place, is copied out instead of masked again.
//!
//! An inbox serves the same objects over and over: every agent loads the same contact and
//! conversation lists, the dashboard refreshes them every few seconds, each WebSocket
//! event repeats the sender's object, an export is downloaded again. The value caches
//! (`value_cache.rs`, the findings and field caches of `text.rs`) already skip the detectors
//! for a value seen before, but reading every key, value and cell of an object still costs
//! several times what copying it does. So a format masker looks a whole span up here
//! before reading it, and records it once it has masked it:
//!
//! * JSON: a container of [`JSON_MIN`] bytes or more whose closing bracket is in the same
//!   chunk (found by [`Brackets`](crate::format::json::brackets)); its place is the path state of
//!   the field rules and the target it inherits; `aux` is its height, so that a container
//!   too deep for the depth cap where it is found now is not replayed (masking it fails
//!   instead, as it must).
//! * CSV: a record after the header; its place is the delimiter and the column targets the
//!   header gave.
//!
//! # When a record applies
//! A span's output depends only on its bytes, its place, and the plan's
//! [`Scope`](crate::vocab::plan::Scope) (rules, role, key ring, field rules, caps): a record
//! carries the masker's [`ScopeId`], so a reload or key rotation never reuses a record,
//! and a role never gets another role's. On a hit all of these are compared, and
//! the raw bytes in full (the hash only finds the candidate). Masking is deterministic
//! (tokens and hashes are keyed, masks and redactions fixed), so the recorded output is the
//! output, and so are the recorded counts (metrics, audit).
//!
//! # Bounds and what it holds
//! The records live in a [`RecordLog`]: [`ENTRIES`] records or [`LOG_BYTES`] bytes per
//! generation, two generations per thread, spans of at most [`MAX_LEN`] bytes. Like the
//! value caches, it holds what this thread has just masked, clear and masked
//! (docs/threat-model.md).
use super::scope::ScopeId;
use super::stats::Cache;
use crate::cache::record_log::RecordLog;
use crate::fields::FieldTarget;
use crate::vocab::counts::MatchCounts;
use crate::vocab::kind::KindId;
use rustc_hash::FxHasher;
use std::cell::RefCell;
use std::hash::Hasher;

/// Shortest JSON container recorded: below it, reading is about as cheap as a lookup.
pub const JSON_MIN: usize = 64;
/// Longest span recorded.
pub const MAX_LEN: usize = 64 << 10;
/// Records per generation.
const ENTRIES: usize = 16384;
/// Log bytes per generation: a 1 MiB contact list, with its nested objects, fits in one.
const LOG_BYTES: usize = 8 << 20;

/// What kind of span a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    JsonContainer = 1,
    CsvRecord = 2,
}

/// What a span's output depends on besides its bytes and its place: the masker's scope
/// and what kind of span it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayCtx {
    scope: ScopeId,
    span: Span,
}

impl ReplayCtx {
    pub fn new(scope: ScopeId, span: Span) -> ReplayCtx {
        ReplayCtx { scope, span }
    }
}

/// Appends a field target to a span's place: a tag and a value.
pub fn push_target(target: Option<FieldTarget>, place: &mut Vec<u8>) {
    let (tag, value) = match target {
        None => (0u8, 0u64),
        Some(FieldTarget::Ignore) => (1, 0),
        Some(FieldTarget::Kind(k)) => (2, u64::from(k.0)),
        Some(FieldTarget::Scan(set)) => (3, set.bits()),
    };
    place.push(tag);
    place.extend_from_slice(&value.to_le_bytes());
}

/// A record: this header, then the place, the raw span, its output, its counts.
///
/// | bytes | field |
/// |---|---|
/// | 0..8 | scope id, u64 LE |
/// | 8 | span kind |
/// | 9..11 | aux (a JSON container's height), u16 LE |
/// | 11..13 | place length, u16 LE |
/// | 13..17 | raw length, u32 LE |
/// | 17..21 | output length, u32 LE |
/// | 21..23 | counts, u16 LE; each: kind id (u16 LE), 1 if served clear, count (u32 LE) |
const HEADER: usize = 23;
const COUNT: usize = 7;

fn u16_at(rec: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([rec[at], rec[at + 1]]))
}

fn u32_at(rec: &[u8], at: usize) -> usize {
    u32::from_le_bytes(rec[at..at + 4].try_into().expect("4 bytes")) as usize
}

/// Does record `rec` hold `raw` at `place`, made in `ctx`?
fn holds(rec: &[u8], ctx: &ReplayCtx, place: &[u8], raw: &[u8]) -> bool {
    if rec[0..8] != ctx.scope.to_le_bytes()
        || rec[8] != ctx.span as u8
        || u16_at(rec, 11) != place.len()
        || u32_at(rec, 13) != raw.len()
    {
        return false;
    }
    let p = HEADER + place.len();
    rec[HEADER..p] == *place && rec[p..p + raw.len()] == *raw
}

/// Spans up to this long are hashed whole; longer ones by three samples of
/// [`SAMPLE`] bytes (start, middle, end) and their length.
const HASHED_WHOLE: usize = 2048;
const SAMPLE: usize = 512;

/// The index key of a record: everything [`holds`] compares, except the middle of a long
/// span. The index only picks a candidate, which is then compared in full, so a sample can
/// only cost a miss, never a wrong replay. Short spans are hashed whole: hashing only a
/// span's ends was tried, and arrays of similar objects (tweets whose ids share their first
/// digits) then collided in the index and replaced each other; a long span (a message with
/// its body) differs from its neighbours within its first, middle or last 512 bytes.
fn hash(ctx: &ReplayCtx, place: &[u8], raw: &[u8]) -> u32 {
    let mut h = FxHasher::default();
    h.write_u64(ctx.scope.get());
    h.write_u8(ctx.span as u8);
    h.write(place);
    if raw.len() <= HASHED_WHOLE {
        h.write(raw);
    } else {
        let mid = raw.len() / 2 - SAMPLE / 2;
        h.write_usize(raw.len());
        h.write(&raw[..SAMPLE]);
        h.write(&raw[mid..mid + SAMPLE]);
        h.write(&raw[raw.len() - SAMPLE..]);
    }
    let h = h.finish();
    (h ^ (h >> 32)) as u32
}

thread_local! {
    static SPANS: RefCell<RecordLog> = const { RefCell::new(RecordLog::new(ENTRIES, LOG_BYTES, Cache::Spans)) };
}

/// If the span `raw` was masked at `place` in `ctx`, with an aux of at most `max_aux`:
/// appends its output to `out`, adds its counts, and returns its aux.
pub fn replay(
    ctx: &ReplayCtx,
    place: &[u8],
    raw: &[u8],
    max_aux: usize,
    out: &mut Vec<u8>,
    counts: &mut MatchCounts,
) -> Option<usize> {
    SPANS.with(|log| {
        let mut log = log.borrow_mut();
        let mut aux = 0;
        let matches = |rec: &[u8]| holds(rec, ctx, place, raw) && u16_at(rec, 9) <= max_aux;
        let hit = log.get(hash(ctx, place, raw), matches, |rec| {
            aux = u16_at(rec, 9);
            let at = HEADER + place.len() + raw.len();
            let rep_len = u32_at(rec, 17);
            out.extend_from_slice(&rec[at..at + rep_len]);
            for c in rec[at + rep_len..].chunks_exact(COUNT) {
                let kind = KindId(u16::from_le_bytes([c[0], c[1]]));
                counts.bump_by(kind, c[2] == 1, u32_at(c, 3) as u32);
            }
        });
        #[cfg(test)]
        if hit {
            HITS.with(|h| h.set(h.get() + 1));
        }
        hit.then_some(aux)
    })
}

/// Records that the span `raw` at `place` in `ctx` was masked into `rep` with `counts`
/// (kind, served clear, how many). Spans over [`MAX_LEN`] bytes are not recorded.
pub fn remember(
    ctx: ReplayCtx,
    place: &[u8],
    raw: &[u8],
    rep: &[u8],
    aux: usize,
    counts: &[(KindId, bool, u32)],
) {
    let (Ok(aux), Ok(place_len), Ok(n)) = (
        u16::try_from(aux),
        u16::try_from(place.len()),
        u16::try_from(counts.len()),
    ) else {
        return;
    };
    if raw.len() > MAX_LEN || rep.len() > 4 * MAX_LEN {
        return;
    }
    SPANS.with(|log| {
        let mut log = log.borrow_mut();
        let mut header = [0u8; HEADER];
        header[0..8].copy_from_slice(&ctx.scope.to_le_bytes());
        header[8] = ctx.span as u8;
        header[9..11].copy_from_slice(&aux.to_le_bytes());
        header[11..13].copy_from_slice(&place_len.to_le_bytes());
        header[13..17].copy_from_slice(&(raw.len() as u32).to_le_bytes());
        header[17..21].copy_from_slice(&(rep.len() as u32).to_le_bytes());
        header[21..23].copy_from_slice(&n.to_le_bytes());
        let len = HEADER + place.len() + raw.len() + rep.len() + COUNT * counts.len();
        log.insert(hash(&ctx, place, raw), len, |log| {
            log.extend_from_slice(&header);
            log.extend_from_slice(place);
            log.extend_from_slice(raw);
            log.extend_from_slice(rep);
            for &(kind, clear, n) in counts {
                log.extend_from_slice(&kind.0.to_le_bytes());
                log.push(u8::from(clear));
                log.extend_from_slice(&n.to_le_bytes());
            }
        });
    })
}

/// Forgets this thread's records. A masker whose document failed calls it: the spans it
/// recorded before the failure were not all checked (the JSON masker checks a chunk's
/// UTF-8 after masking it, and a replayed span is not checked again), so none may be
/// replayed to the next document.
pub fn clear_thread_cache() {
    SPANS.with(|log| log.borrow_mut().clear());
}

#[cfg(test)]
thread_local! {
    static HITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Spans replayed on this thread so far (tests).
#[cfg(test)]
pub(crate) fn hits() -> u64 {
    HITS.with(|h| h.get())
}
