//! Short strings this thread has scanned (JSON string values, HTML text nodes and attribute
//! values), with what came of them.
//!
//! An inbox serves the same contact lists, conversations and pages again and again (every
//! agent loads them, every refresh), so most strings that pass the detectors' prefilter
//! (phone numbers, addresses, message ids, timestamps) were scanned moments ago. Replaying the
//! result costs a hash lookup instead of the candidate regex, the validators, the action
//! and the escaping. An entry is used only with the same detectors, role, key ring and
//! scan list (each compiled object has its own [`generation`](crate::next_generation),
//! so a reload never reuses an entry), and only in the format that wrote it ([`Flavor`]: a
//! JSON replacement is quoted and JSON-escaped, an HTML one escaped for HTML). Like the token cache, it holds values this thread
//! has just masked (docs/threat-model.md).
//!
//! The records live in a [`RecordLog`] (why a log, and its bounds, are explained there):
//! [`ENTRIES`] records or [`LOG_BYTES`] bytes per generation. Only strings up to
//! [`MAX_LEN`] bytes are cached.
use crate::cache::record_log::RecordLog;
use crate::detect::DetectorSet;
use crate::vocab::counts::MatchCounts;
use crate::vocab::kind::KindId;
use crate::vocab::plan::MaskPlan;
use rustc_hash::FxHasher;
use std::cell::RefCell;
use std::hash::Hasher;

/// Longest string value cached (its length is stored in one byte).
pub const MAX_LEN: usize = u8::MAX as usize;
/// Records per generation.
const ENTRIES: usize = 16384;
/// Log bytes per generation.
const LOG_BYTES: usize = 4 << 20;

/// How a string is read and its replacement written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// A JSON string's raw bytes between the quotes; the replacement is a quoted, escaped
    /// JSON string.
    JsonString,
    /// HTML text or an attribute value with character references; the replacement is
    /// escaped for HTML.
    HtmlText,
}

/// What a scan result depends on besides the string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanCtx {
    detectors: u64,
    role: u64,
    keys: u64,
    scan: DetectorSet,
    flavor: Flavor,
}

impl ScanCtx {
    pub fn of(plan: &MaskPlan, flavor: Flavor) -> ScanCtx {
        ScanCtx {
            detectors: plan.detectors.generation(),
            role: plan.role.generation(),
            keys: plan.keys.generation(),
            scan: plan.scan,
            flavor,
        }
    }
}

/// Findings counted per entry, at most (a value with more is not cached).
const MAX_COUNTS: usize = 2;

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

/// The result of a scan, as recorded.
struct Scanned<'a> {
    rep: Option<&'a [u8]>,
    counts: [(KindId, bool); MAX_COUNTS],
    n: usize,
}

thread_local! {
    static VALUES: RefCell<RecordLog<ScanCtx>> = RefCell::new(RecordLog::new(ENTRIES, LOG_BYTES));
}

fn hash(raw: &[u8], ctx: u8) -> u32 {
    let mut h = FxHasher::default();
    h.write_u8(ctx);
    h.write(raw);
    let h = h.finish();
    (h ^ (h >> 32)) as u32
}

/// Does record `rec` hold `raw`, made in context `ctx`?
fn holds(rec: &[u8], raw: &[u8], ctx: u8) -> bool {
    let raw_len = usize::from(rec[0]);
    rec[3] == ctx && rec.get(HEADER..HEADER + raw_len) == Some(raw)
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
        let hit = values.get(
            hash(raw, at),
            |rec| holds(rec, raw, at),
            |rec| {
                for c in rec[6..6 + 3 * usize::from(rec[5])].chunks_exact(3) {
                    counts.bump(KindId(u16::from_le_bytes([c[0], c[1]])), c[2] == 1);
                }
                replaced = rec[4] == 1;
                if replaced {
                    rep.extend_from_slice(&rec[HEADER + usize::from(rec[0])..]);
                }
            },
        );
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
        let at = values.ctx_index_or_insert(ctx);
        let mut header = [0u8; HEADER];
        header[0] = raw_len;
        header[1..3].copy_from_slice(&rep_len.to_le_bytes());
        header[3] = at;
        header[4] = u8::from(scanned.rep.is_some());
        header[5] = scanned.n as u8;
        for (i, &(kind, clear)) in scanned.counts.iter().enumerate() {
            header[6 + 3 * i..8 + 3 * i].copy_from_slice(&kind.0.to_le_bytes());
            header[8 + 3 * i] = u8::from(clear);
        }
        let rep = scanned.rep.unwrap_or_default();
        values.insert(hash(raw, at), HEADER + raw.len() + rep.len(), |log| {
            log.extend_from_slice(&header);
            log.extend_from_slice(raw);
            log.extend_from_slice(rep);
        });
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
            flavor: Flavor::JsonString,
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
            for (entries, bytes) in v.borrow().sizes() {
                assert!(entries <= ENTRIES && bytes <= LOG_BYTES + HEADER + MAX_LEN + 4);
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
            for (_, bytes) in v.borrow().sizes() {
                assert!(bytes <= LOG_BYTES + 2 * rep.len());
            }
        });
        // The latest records are there, whole; the first ones are gone.
        let (replaced, got, _) = replayed(ctx(1), format!("v{}", n - 1).as_bytes()).unwrap();
        assert!(replaced && got == rep);
        assert!(replayed(ctx(1), b"v0").is_none());
    }
}
