//! String values this thread has scanned, with what came of them.
//!
//! An inbox serves the same contact lists and conversations again and again (every agent
//! loads them, every refresh), so most strings that pass the detectors' prefilter (phone
//! numbers, addresses, message ids, timestamps) were scanned moments ago. Replaying the
//! result costs a hash lookup instead of the candidate regex, the validators, the action
//! and the escaping. An entry is used only with the same detectors, role, key ring and
//! scan list (each compiled object has its own [`generation`](super::super::next_generation),
//! so a reload never reuses an entry). Like the token cache, it holds values this thread
//! has just masked (docs/threat-model.md).
//!
//! # Layout: why a log
//! A lookup is bound by memory latency, not by hashing: the response streaming through
//! evicts the cache from the core's caches between two lookups. So the entries are records
//! appended to a byte log in the order they were first seen, and the hash index only maps
//! a 32-bit hash to a record's offset (8 bytes a slot, small enough to stay cached). A
//! document masked again (the common case) then reads the log front to back, which the
//! hardware prefetcher follows; a hash table of boxed entries cost two cache misses per
//! value instead.
//!
//! # Bounds
//! Two generations ([`Memo`](super::super::memo::Memo)'s policy, with a byte cap too):
//! records go into `new`; when it holds [`ENTRIES`] records or [`LOG_BYTES`] bytes, it
//! becomes `old` and the previous `old` is emptied (its buffers reused). A hit in `old` is
//! copied into `new`, so a working set within the caps survives large responses. Only
//! strings up to [`MAX_LEN`] bytes are cached.
use super::super::detect::DetectorSet;
use super::super::kind::KindId;
use super::super::plan::MaskPlan;
use super::super::text::MatchCounts;
use rustc_hash::{FxHashMap, FxHasher};
use std::cell::RefCell;
use std::hash::Hasher;

/// Longest string value cached (its length is stored in one byte).
pub const MAX_LEN: usize = u8::MAX as usize;
/// Records per generation.
const ENTRIES: usize = 16384;
/// Log bytes per generation.
const LOG_BYTES: usize = 4 << 20;

/// What a scan result depends on besides the string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanCtx {
    detectors: u64,
    role: u64,
    keys: u64,
    scan: DetectorSet,
}

impl ScanCtx {
    pub fn of(plan: &MaskPlan) -> ScanCtx {
        ScanCtx {
            detectors: plan.detectors.generation(),
            role: plan.role.generation(),
            keys: plan.keys.generation(),
            scan: plan.scan,
        }
    }
}

/// Findings counted per entry, at most (a value with more is not cached).
const MAX_COUNTS: usize = 2;

/// Distinct [`ScanCtx`]s a thread keeps entries for. One more clears the cache: contexts
/// change only with a reload, a key rotation or another role or route.
const MAX_CTXS: usize = 32;

/// A record in the log: this header, then the raw string, then its replacement.
///
/// | bytes | field |
/// |---|---|
/// | 0 | raw length |
/// | 1..3 | replacement length, little endian (0 and not replaced: kept as is) |
/// | 3 | context index |
/// | 4 | 1 when replaced |
/// | 5 | findings counted (≤ [`MAX_COUNTS`]) |
/// | 6..12 | per finding: kind id (u16 LE), 1 when served in the clear |
const HEADER: usize = 12;
/// The longest record.
const MAX_RECORD: usize = HEADER + MAX_LEN + u16::MAX as usize;

/// The result of a scan, as recorded.
struct Scanned<'a> {
    rep: Option<&'a [u8]>,
    counts: [(KindId, bool); MAX_COUNTS],
    n: usize,
}

/// One generation: records in the order they were added, and where each one starts.
#[derive(Default)]
struct Generation {
    index: FxHashMap<u32, u32>,
    log: Vec<u8>,
}

impl Generation {
    /// The record of `raw` in context `ctx`, as its offset in the log.
    fn find(&self, hash: u32, raw: &[u8], ctx: u8) -> Option<usize> {
        let at = *self.index.get(&hash)? as usize;
        let rec = &self.log[at..];
        let raw_len = usize::from(rec[0]);
        (rec[3] == ctx && &rec[HEADER..HEADER + raw_len] == raw).then_some(at)
    }

    fn is_full(&self) -> bool {
        self.index.len() >= ENTRIES || self.log.len() >= LOG_BYTES
    }

    fn clear(&mut self) {
        self.index.clear();
        self.log.clear();
    }

    /// Appends a record (a copy of `rec`, header included) and indexes it.
    fn push(&mut self, hash: u32, rec: &[u8]) {
        if self.log.capacity() - self.log.len() < rec.len() {
            // Doubling, but never past what a generation can hold before it is full.
            let want =
                (self.log.capacity() * 2).clamp(self.log.len() + rec.len(), LOG_BYTES + MAX_RECORD);
            self.log.reserve_exact(want - self.log.len());
        }
        let at = self.log.len() as u32;
        self.log.extend_from_slice(rec);
        self.index.insert(hash, at);
    }
}

/// Length of the record starting at `rec[0]`.
fn record_len(rec: &[u8]) -> usize {
    HEADER + usize::from(rec[0]) + usize::from(u16::from_le_bytes([rec[1], rec[2]]))
}

#[derive(Default)]
struct Values {
    new: Generation,
    old: Generation,
    /// The contexts records were made in; a record holds its index.
    ctxs: Vec<ScanCtx>,
    /// Scratch for a record being built or moved.
    rec: Vec<u8>,
}

impl Values {
    fn ctx_index(&self, ctx: &ScanCtx) -> Option<u8> {
        // Most recent last: a thread usually serves one or two contexts.
        let i = self.ctxs.iter().rposition(|c| c == ctx)?;
        Some(i as u8)
    }

    fn clear(&mut self) {
        self.new.clear();
        self.old.clear();
        self.ctxs.clear();
    }

    /// Makes room in `new` for one more record.
    fn rotate_if_full(&mut self) {
        if self.new.is_full() {
            std::mem::swap(&mut self.new, &mut self.old);
            self.new.clear();
        }
    }

    fn insert(&mut self, hash: u32, rec: &[u8]) {
        self.rotate_if_full();
        self.new.push(hash, rec);
    }

    /// The record of `raw` in `ctx`, moved into `new` if it was in `old`: a copy of it.
    fn lookup(&mut self, hash: u32, raw: &[u8], ctx: u8, f: impl FnOnce(&[u8])) -> bool {
        if let Some(at) = self.new.find(hash, raw, ctx) {
            let rec = &self.new.log[at..];
            f(&rec[..record_len(rec)]);
            return true;
        }
        let Some(at) = self.old.find(hash, raw, ctx) else {
            return false;
        };
        let mut rec = std::mem::take(&mut self.rec);
        rec.clear();
        let old = &self.old.log[at..];
        rec.extend_from_slice(&old[..record_len(old)]);
        f(&rec);
        self.insert(hash, &rec);
        self.rec = rec;
        true
    }
}

thread_local! {
    static VALUES: RefCell<Values> = RefCell::default();
}

fn hash(raw: &[u8], ctx: u8) -> u32 {
    let mut h = FxHasher::default();
    h.write_u8(ctx);
    h.write(raw);
    let h = h.finish();
    (h ^ (h >> 32)) as u32
}

/// If `raw` was scanned with `ctx`: appends its replacement to `rep` (if it has one),
/// counts its findings, and returns whether it is replaced.
pub fn replay(
    ctx: ScanCtx,
    raw: &[u8],
    rep: &mut Vec<u8>,
    counts: &mut MatchCounts,
) -> Option<bool> {
    VALUES.with(|values| {
        let mut values = values.borrow_mut();
        let at = values.ctx_index(&ctx)?;
        let mut replaced = false;
        let hit = values.lookup(hash(raw, at), raw, at, |rec| {
            for c in rec[6..6 + 3 * usize::from(rec[5])].chunks_exact(3) {
                counts.bump(KindId(u16::from_le_bytes([c[0], c[1]])), c[2] == 1);
            }
            replaced = rec[4] == 1;
            if replaced {
                rep.extend_from_slice(&rec[HEADER + usize::from(rec[0])..]);
            }
        });
        hit.then_some(replaced)
    })
}

/// Records the result of scanning `raw` with `ctx`: its replacement if it is replaced,
/// and its findings' kinds with whether each was served in the clear. Strings longer than
/// [`MAX_LEN`], replacements longer than 64 KiB and values with more than [`MAX_COUNTS`]
/// findings are not recorded.
pub fn remember(
    ctx: ScanCtx,
    raw: &[u8],
    rep: Option<&[u8]>,
    found: impl Iterator<Item = (KindId, bool)>,
) {
    let mut scanned = Scanned {
        rep,
        counts: [(KindId(0), false); MAX_COUNTS],
        n: 0,
    };
    for c in found {
        if scanned.n == MAX_COUNTS {
            return;
        }
        scanned.counts[scanned.n] = c;
        scanned.n += 1;
    }
    let (Ok(raw_len), Ok(rep_len)) = (
        u8::try_from(raw.len()),
        u16::try_from(scanned.rep.map_or(0, <[u8]>::len)),
    ) else {
        return;
    };
    VALUES.with(|values| {
        let mut values = values.borrow_mut();
        let at = match values.ctx_index(&ctx) {
            Some(at) => at,
            None => {
                if values.ctxs.len() == MAX_CTXS {
                    values.clear();
                }
                values.ctxs.push(ctx);
                (values.ctxs.len() - 1) as u8
            }
        };
        let mut rec = std::mem::take(&mut values.rec);
        rec.clear();
        rec.push(raw_len);
        rec.extend_from_slice(&rep_len.to_le_bytes());
        rec.push(at);
        rec.push(u8::from(scanned.rep.is_some()));
        rec.push(scanned.n as u8);
        for &(kind, clear) in &scanned.counts {
            rec.extend_from_slice(&kind.0.to_le_bytes());
            rec.push(u8::from(clear));
        }
        rec.extend_from_slice(raw);
        rec.extend_from_slice(scanned.rep.unwrap_or_default());
        values.insert(hash(raw, at), &rec);
        values.rec = rec;
    })
}

/// Forgets this thread's entries.
pub(crate) fn clear_thread_cache() {
    VALUES.with(|values| values.borrow_mut().clear());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(n: u64) -> ScanCtx {
        ScanCtx {
            detectors: n,
            role: 1,
            keys: 1,
            scan: DetectorSet::default(),
        }
    }

    fn replayed(c: ScanCtx, raw: &[u8]) -> Option<(bool, Vec<u8>, MatchCounts)> {
        let mut rep = Vec::new();
        let mut counts = MatchCounts::default();
        let r = replay(c, raw, &mut rep, &mut counts)?;
        Some((r, rep, counts))
    }

    #[test]
    fn a_record_replays_its_replacement_and_counts_in_its_own_context_only() {
        clear_thread_cache();
        let found = [(KindId(3), false), (KindId(1), true)];
        remember(
            ctx(1),
            b"+55 11 91234-5678",
            Some(b"\"tok\""),
            found.into_iter(),
        );
        remember(ctx(1), b"order 2025", None, std::iter::empty());
        let (replaced, rep, counts) = replayed(ctx(1), b"+55 11 91234-5678").unwrap();
        assert!(replaced);
        assert_eq!(rep, b"\"tok\"");
        let mut want = MatchCounts::default();
        want.bump(KindId(3), false);
        want.bump(KindId(1), true);
        assert_eq!(counts, want);
        let (replaced, rep, _) = replayed(ctx(1), b"order 2025").unwrap();
        assert!(!replaced && rep.is_empty());
        // Another context, or another string, is a miss.
        assert!(replayed(ctx(2), b"+55 11 91234-5678").is_none());
        assert!(replayed(ctx(1), b"+55 11 91234-5679").is_none());
        // Too many findings: not recorded.
        remember(ctx(1), b"x", None, [(KindId(1), true); 3].into_iter());
        assert!(replayed(ctx(1), b"x").is_none());
    }

    #[test]
    fn a_working_set_survives_rotation_and_memory_is_bounded() {
        clear_thread_cache();
        let working: Vec<String> = (0..ENTRIES / 2).map(|i| format!("w{i}@x.io")).collect();
        for w in &working {
            remember(ctx(1), w.as_bytes(), Some(b"m"), std::iter::empty());
        }
        for round in 0..4 {
            // One-off values between rounds of the working set push generations out; the
            // working set is used again within ENTRIES insertions, so it stays.
            for i in 0..ENTRIES / 4 {
                let v = format!("once-{round}-{i}");
                remember(ctx(1), v.as_bytes(), None, std::iter::empty());
            }
            for w in &working {
                assert!(replayed(ctx(1), w.as_bytes()).is_some(), "{w} dropped");
            }
        }
        VALUES.with(|v| {
            let v = v.borrow();
            for g in [&v.new, &v.old] {
                assert!(g.index.len() <= ENTRIES && g.log.capacity() <= LOG_BYTES + MAX_RECORD);
            }
        });
    }

    #[test]
    fn the_log_rotates_at_its_byte_cap() {
        clear_thread_cache();
        let rep = vec![b'x'; 4096];
        let n = 3 * LOG_BYTES / rep.len();
        for i in 0..n {
            remember(
                ctx(1),
                format!("v{i}").as_bytes(),
                Some(&rep),
                std::iter::empty(),
            );
        }
        VALUES.with(|v| {
            let v = v.borrow();
            for g in [&v.new, &v.old] {
                assert!(g.log.capacity() <= LOG_BYTES + MAX_RECORD);
            }
        });
        // The latest records are there, whole; the first ones are gone.
        let (replaced, got, _) = replayed(ctx(1), format!("v{}", n - 1).as_bytes()).unwrap();
        assert!(replaced && got == rep);
        assert!(replayed(ctx(1), b"v0").is_none());
    }

    #[test]
    fn too_many_contexts_clear_the_cache() {
        clear_thread_cache();
        for n in 0..=MAX_CTXS as u64 {
            remember(ctx(n), b"v", None, std::iter::empty());
        }
        VALUES.with(|v| assert_eq!(v.borrow().ctxs.len(), 1));
        assert!(replayed(ctx(0), b"v").is_none());
        assert!(replayed(ctx(MAX_CTXS as u64), b"v").is_some());
    }
}
