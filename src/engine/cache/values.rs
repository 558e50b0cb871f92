//! Short strings this thread has scanned (JSON string values, HTML text nodes and attribute
//! values), with what came of them.
//!
//! An inbox serves the same contact lists, conversations and pages again and again (every
//! agent loads them, every refresh), so most strings that pass the detectors' prefilter
//! (phone numbers, addresses, message ids, timestamps) were scanned moments ago. Replaying the
//! result costs a hash lookup instead of the candidate regex, the validators, the action
//! and the escaping. An entry is used only under the [`ScopeId`] it was made with (one rule
//! set, role, key ring and scan list: see [`scope`](super::scope)), and only in the format
//! that wrote it ([`Flavor`]: a JSON replacement is quoted and JSON-escaped, an HTML one
//! escaped for HTML). Like the token cache, it holds values this thread
//! has just masked (docs/threat-model.md).
//!
//! The records live in a [`RecordLog`] (why a log, and its bounds, are explained there):
//! [`ENTRIES`] records or [`LOG_BYTES`] bytes per generation. Only strings up to
//! [`MAX_LEN`] bytes are cached.
use super::record_log::RecordLog;
use super::scope::ScopeId;
use super::stats::Cache;
use crate::vocab::counts::MatchCounts;
use crate::vocab::kind::KindId;
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
    JsonString = 1,
    /// HTML text or an attribute value with character references; the replacement is
    /// escaped for HTML.
    HtmlText = 2,
}

/// Findings counted per entry, at most (a value with more is not cached).
const MAX_COUNTS: usize = 2;

/// A record in the log: this header, then the raw string, then its replacement.
///
/// | bytes | field |
/// |---|---|
/// | 0 | raw length |
/// | 1..3 | replacement length, little endian (0 and not replaced: kept as is) |
/// | 3..11 | scope id (u64 LE) |
/// | 11 | flavor |
/// | 12 | 1 when replaced |
/// | 13 | findings counted (≤ [`MAX_COUNTS`]) |
/// | 14..20 | per finding: kind id (u16 LE), 1 when served in the clear |
const HEADER: usize = 20;
const COUNTS_AT: usize = 14;

/// The result of a scan, as recorded.
struct Scanned<'a> {
    rep: Option<&'a [u8]>,
    counts: [(KindId, bool); MAX_COUNTS],
    n: usize,
}

thread_local! {
    static VALUES: RefCell<RecordLog> = const { RefCell::new(RecordLog::new(ENTRIES, LOG_BYTES, Cache::Values)) };
}

fn hash(raw: &[u8], scope: ScopeId, flavor: Flavor) -> u32 {
    let mut h = FxHasher::default();
    h.write_u64(scope.get());
    h.write_u8(flavor as u8);
    h.write(raw);
    let h = h.finish();
    (h ^ (h >> 32)) as u32
}

/// Does record `rec` hold `raw`, made under `scope` for `flavor`?
fn holds(rec: &[u8], raw: &[u8], scope: ScopeId, flavor: Flavor) -> bool {
    let raw_len = usize::from(rec[0]);
    rec[3..11] == scope.to_le_bytes()
        && rec[11] == flavor as u8
        && rec.get(HEADER..HEADER + raw_len) == Some(raw)
}

/// If `raw` was scanned under `scope` for `flavor`: appends its replacement to `rep` (if
/// it has one), counts its findings, and returns whether it is replaced.
pub fn replay(
    scope: ScopeId,
    flavor: Flavor,
    raw: &[u8],
    rep: &mut Vec<u8>,
    counts: &mut MatchCounts,
) -> Option<bool> {
    VALUES.with(|values| {
        let mut values = values.borrow_mut();
        let mut replaced = false;
        let hit = values.get(
            hash(raw, scope, flavor),
            |rec| holds(rec, raw, scope, flavor),
            |rec| {
                let n = usize::from(rec[13]);
                for c in rec[COUNTS_AT..COUNTS_AT + 3 * n].chunks_exact(3) {
                    counts.bump(KindId(u16::from_le_bytes([c[0], c[1]])), c[2] == 1);
                }
                replaced = rec[12] == 1;
                if replaced {
                    rep.extend_from_slice(&rec[HEADER + usize::from(rec[0])..]);
                }
            },
        );
        hit.then_some(replaced)
    })
}

/// Records the result of scanning `raw` under `scope` for `flavor`: its replacement if it is replaced,
/// and its findings' kinds with whether each was served in the clear. Strings longer than
/// [`MAX_LEN`], replacements longer than 64 KiB and values with more than [`MAX_COUNTS`]
/// findings are not recorded.
pub fn remember(
    scope: ScopeId,
    flavor: Flavor,
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
        let mut header = [0u8; HEADER];
        header[0] = raw_len;
        header[1..3].copy_from_slice(&rep_len.to_le_bytes());
        header[3..11].copy_from_slice(&scope.to_le_bytes());
        header[11] = flavor as u8;
        header[12] = u8::from(scanned.rep.is_some());
        header[13] = scanned.n as u8;
        for (i, &(kind, clear)) in scanned.counts.iter().enumerate() {
            let at = COUNTS_AT + 3 * i;
            header[at..at + 2].copy_from_slice(&kind.0.to_le_bytes());
            header[at + 2] = u8::from(clear);
        }
        let rep = scanned.rep.unwrap_or_default();
        values.insert(
            hash(raw, scope, flavor),
            HEADER + raw.len() + rep.len(),
            |log| {
                log.extend_from_slice(&header);
                log.extend_from_slice(raw);
                log.extend_from_slice(rep);
            },
        );
    })
}

/// Forgets this thread's entries.
pub(crate) fn clear_thread_cache() {
    VALUES.with(|values| values.borrow_mut().clear());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(n: u64) -> ScopeId {
        ScopeId::for_test(n)
    }

    fn remember(
        c: ScopeId,
        raw: &[u8],
        rep: Option<&[u8]>,
        found: impl Iterator<Item = (KindId, bool)>,
    ) {
        super::remember(c, Flavor::JsonString, raw, rep, found)
    }

    fn replayed(c: ScopeId, raw: &[u8]) -> Option<(bool, Vec<u8>, MatchCounts)> {
        let mut rep = Vec::new();
        let mut counts = MatchCounts::default();
        let r = replay(c, Flavor::JsonString, raw, &mut rep, &mut counts)?;
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
        // Another scope, another flavor, or another string, is a miss.
        assert!(replayed(ctx(2), b"+55 11 91234-5678").is_none());
        let (mut rep, mut counts) = (Vec::new(), MatchCounts::default());
        let html = replay(
            ctx(1),
            Flavor::HtmlText,
            b"+55 11 91234-5678",
            &mut rep,
            &mut counts,
        );
        assert!(html.is_none() && rep.is_empty());
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
