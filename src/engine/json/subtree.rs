//! JSON containers this thread has masked, with their masked bytes: the same contact,
//! conversation or message object served again is copied out instead of masked again.
//!
//! An inbox serves the same objects over and over: every agent loads the same contact and
//! conversation lists, the dashboard refreshes them every few seconds, and each WebSocket
//! event repeats the sender's object. [`cache`](super::cache) already skips the detectors
//! for a string seen before, but reading every key and value of an object still costs
//! several times what copying it does. When the tokenizer reaches the opening bracket of a
//! container whose closing bracket is in the same chunk ([`Brackets`](super::brackets)),
//! it looks the container's raw bytes up here; a hit writes the recorded output and counts
//! and jumps past the container. A miss is masked as usual and recorded at its closing
//! bracket (containers of [`MIN_LEN`] to [`MAX_LEN`] bytes).
//!
//! # When a record applies
//! A container's output depends only on its bytes and on what the masker knew when it
//! opened: the rules, role, key ring and caps ([`SubtreeCtx`]: each compiled object has its
//! own [`generation`](super::super::next_generation), so a reload never reuses a record),
//! the path state of the field rules at the container, and the target it inherits from a
//! matched ancestor. All of these are compared on a hit, and the raw bytes are compared in
//! full, not trusted to a hash. Masking is deterministic (tokens and hashes are keyed, masks
//! and redactions fixed), so the recorded output is the output. A container too deep for
//! the depth cap where it is found now is not replayed (masking it fails instead, as it
//! must). Plans with filter expressions do not use this cache (a filter buffers and masks
//! its element through a sub-masker).
//!
//! # Bounds and what it holds
//! The records live in a [`RecordLog`]: [`ENTRIES`] records or [`LOG_BYTES`] bytes per
//! generation, two generations per thread. Like the value cache, it holds objects this
//! thread has just masked, clear and masked (docs/threat-model.md).
use super::super::detect::DetectorSet;
use super::super::kind::KindId;
use super::super::plan::{FieldTarget, Limits, MaskPlan};
use super::super::record_log::RecordLog;
use super::super::text::MatchCounts;
use rustc_hash::FxHasher;
use std::cell::RefCell;
use std::hash::Hasher;

/// Shortest container recorded: below it, reading is about as cheap as a lookup.
pub const MIN_LEN: usize = 64;
/// Longest container recorded.
pub const MAX_LEN: usize = 64 << 10;
/// Records per generation.
const ENTRIES: usize = 16384;
/// Log bytes per generation: a 1 MiB contact list, with its nested objects, fits in one.
const LOG_BYTES: usize = 8 << 20;

/// What a container's output depends on besides its bytes, its path state and its
/// inherited target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubtreeCtx {
    detectors: u64,
    role: u64,
    keys: u64,
    fields: u64,
    scan: DetectorSet,
    limits: Limits,
    audit_clear: bool,
}

impl SubtreeCtx {
    pub fn of(plan: &MaskPlan) -> SubtreeCtx {
        SubtreeCtx {
            detectors: plan.detectors.generation(),
            role: plan.role.generation(),
            keys: plan.keys.generation(),
            fields: plan.fields.json.generation(),
            scan: plan.scan,
            limits: plan.limits,
            audit_clear: plan.audit_clear,
        }
    }
}

/// Where a container is: the path state of the field rules at it, and the target it
/// inherits from a matched ancestor.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    pub state: &'a [u64],
    pub inherit: Option<FieldTarget>,
}

impl Place<'_> {
    /// The inherited target as bytes: a tag and a value.
    fn inherit_bytes(&self) -> [u8; 9] {
        let (tag, value) = match self.inherit {
            None => (0u8, 0u64),
            Some(FieldTarget::Ignore) => (1, 0),
            Some(FieldTarget::Kind(k)) => (2, u64::from(k.0)),
            Some(FieldTarget::Scan(set)) => (3, set.bits()),
        };
        let mut b = [0u8; 9];
        b[0] = tag;
        b[1..].copy_from_slice(&value.to_le_bytes());
        b
    }
}

/// A record: this header, the path state (8 bytes a word), the raw container, its
/// output, then its counts.
///
/// | bytes | field |
/// |---|---|
/// | 0 | context index |
/// | 1..3 | height: the container and the containers nested in it, u16 LE |
/// | 3..12 | inherited target: tag, value (u64 LE) |
/// | 12..14 | path state words, u16 LE |
/// | 14..18 | raw length, u32 LE |
/// | 18..22 | output length, u32 LE |
/// | 22..24 | counts, u16 LE; each: kind id (u16 LE), 1 if served clear, count (u32 LE) |
const HEADER: usize = 24;
const COUNT: usize = 7;

fn u16_at(rec: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([rec[at], rec[at + 1]]))
}

fn u32_at(rec: &[u8], at: usize) -> usize {
    u32::from_le_bytes(rec[at..at + 4].try_into().expect("4 bytes")) as usize
}

/// Does record `rec` hold `raw` at `place`, made in context `ctx`?
fn holds(rec: &[u8], ctx: u8, inherit: &[u8; 9], state: &[u64], raw: &[u8]) -> bool {
    let words = u16_at(rec, 12);
    if rec[0] != ctx || rec[3..12] != inherit[..] || words != state.len() {
        return false;
    }
    if u32_at(rec, 14) != raw.len() {
        return false;
    }
    let s = HEADER + 8 * words;
    let same_state = rec[HEADER..s]
        .chunks_exact(8)
        .zip(state)
        .all(|(b, w)| b == w.to_le_bytes());
    same_state && rec[s..s + raw.len()] == *raw
}

/// The index key of a record: everything [`holds`] compares. (Hashing only a
/// container's ends was tried: arrays of similar objects, such as tweets whose ids share
/// their first digits, then collide in the index and replace each other.)
fn hash(ctx: u8, inherit: &[u8; 9], state: &[u64], raw: &[u8]) -> u32 {
    let mut h = FxHasher::default();
    h.write_u8(ctx);
    h.write(inherit);
    for w in state {
        h.write_u64(*w);
    }
    h.write(raw);
    let h = h.finish();
    (h ^ (h >> 32)) as u32
}

thread_local! {
    static SUBTREES: RefCell<RecordLog<SubtreeCtx>> =
        RefCell::new(RecordLog::new(ENTRIES, LOG_BYTES));
}

/// If the container `raw` was masked at `place` in `ctx` and is at most `max_height`
/// containers deep: appends its output to `out`, adds its counts, and returns its height.
pub fn replay(
    ctx: &SubtreeCtx,
    place: Place<'_>,
    raw: &[u8],
    max_height: usize,
    out: &mut Vec<u8>,
    counts: &mut MatchCounts,
) -> Option<usize> {
    SUBTREES.with(|log| {
        let mut log = log.borrow_mut();
        let c = log.ctx_index(ctx)?;
        let mut height = 0;
        let inherit = place.inherit_bytes();
        let matches =
            |rec: &[u8]| holds(rec, c, &inherit, place.state, raw) && u16_at(rec, 1) <= max_height;
        let hit = log.get(hash(c, &inherit, place.state, raw), matches, |rec| {
            height = u16_at(rec, 1);
            let at = HEADER + 8 * place.state.len() + raw.len();
            let rep_len = u32_at(rec, 18);
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
        hit.then_some(height)
    })
}

#[cfg(test)]
thread_local! {
    static HITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Containers replayed on this thread so far (tests).
#[cfg(test)]
pub(crate) fn hits() -> u64 {
    HITS.with(|h| h.get())
}

/// Records that the container `raw` at `place` in `ctx`, `height` containers deep, was
/// masked into `rep` with `counts` (kind, served clear, how many).
pub fn remember(
    ctx: SubtreeCtx,
    place: Place<'_>,
    raw: &[u8],
    rep: &[u8],
    height: usize,
    counts: &[(KindId, bool, u32)],
) {
    let (Ok(height), Ok(words), Ok(n)) = (
        u16::try_from(height),
        u16::try_from(place.state.len()),
        u16::try_from(counts.len()),
    ) else {
        return;
    };
    if !(MIN_LEN..=MAX_LEN).contains(&raw.len()) {
        return;
    }
    SUBTREES.with(|log| {
        let mut log = log.borrow_mut();
        let c = log.ctx_index_or_insert(ctx);
        let inherit = place.inherit_bytes();
        let mut header = [0u8; HEADER];
        header[0] = c;
        header[1..3].copy_from_slice(&height.to_le_bytes());
        header[3..12].copy_from_slice(&inherit);
        header[12..14].copy_from_slice(&words.to_le_bytes());
        header[14..18].copy_from_slice(&(raw.len() as u32).to_le_bytes());
        header[18..22].copy_from_slice(&(rep.len() as u32).to_le_bytes());
        header[22..24].copy_from_slice(&n.to_le_bytes());
        let len = HEADER + 8 * place.state.len() + raw.len() + rep.len() + COUNT * counts.len();
        log.insert(hash(c, &inherit, place.state, raw), len, |log| {
            log.extend_from_slice(&header);
            for w in place.state {
                log.extend_from_slice(&w.to_le_bytes());
            }
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

/// Forgets this thread's records.
pub(crate) fn clear_thread_cache() {
    SUBTREES.with(|log| log.borrow_mut().clear());
}
