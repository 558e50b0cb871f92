//! String values this thread has scanned, with what came of them.
//!
//! An inbox serves the same contact lists and conversations again and again (every agent
//! loads them, every refresh), so most strings that pass the detectors' prefilter (phone
//! numbers, addresses, message ids, timestamps) were scanned moments ago. Replaying the
//! result costs a hash lookup instead of the candidate regex, the validators, the action
//! and the escaping. An entry is used only with the same detectors, role, key ring and
//! scan list (each compiled object has its own [`generation`](super::super::next_generation),
//! so a reload never reuses an entry). Bounded: only short strings, at most twice
//! [`ENTRIES`] ([`Memo`](super::super::memo::Memo)).
//! Like the token cache, it holds values this thread has just masked
//! (docs/threat-model.md).
use super::super::detect::DetectorSet;
use super::super::kind::KindId;
use super::super::memo::Memo;
use super::super::plan::MaskPlan;
use super::super::text::MatchCounts;
use std::cell::RefCell;

/// Longest string value cached.
pub const MAX_LEN: usize = 256;
const ENTRIES: usize = 16384;

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

/// The key: the raw string, followed in the same allocation by its replacement, so a hit
/// reads one heap block (a lookup is bound by memory latency, not by hashing).
struct Packed {
    bytes: Box<[u8]>,
    raw_len: u32,
}

impl Packed {
    fn raw(&self) -> &[u8] {
        &self.bytes[..self.raw_len as usize]
    }

    fn rep(&self) -> &[u8] {
        &self.bytes[self.raw_len as usize..]
    }
}

// Hashed and compared as the raw string alone, so `&[u8]` looks it up.
impl std::hash::Hash for Packed {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.raw().hash(state);
    }
}

impl PartialEq for Packed {
    fn eq(&self, other: &Self) -> bool {
        self.raw() == other.raw()
    }
}

impl Eq for Packed {}

impl std::borrow::Borrow<[u8]> for Packed {
    fn borrow(&self) -> &[u8] {
        self.raw()
    }
}

struct Entry {
    ctx: ScanCtx,
    /// The string is replaced (by the bytes after it in its key).
    replaced: bool,
    /// The findings' kinds, and whether each was served in the clear (`n` of them).
    counts: [(KindId, bool); MAX_COUNTS],
    n: u8,
}

thread_local! {
    static VALUES: RefCell<Memo<Packed, Entry>> = RefCell::new(Memo::new(ENTRIES));
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
        values
            .get_key_value_with(raw, |key, e| {
                if e.ctx != ctx {
                    return None;
                }
                for &(kind, clear) in &e.counts[..usize::from(e.n)] {
                    counts.bump(kind, clear);
                }
                if e.replaced {
                    rep.extend_from_slice(key.rep());
                }
                Some(e.replaced)
            })
            .flatten()
    })
}

/// Records the result of scanning `raw` with `ctx`.
pub fn remember(
    ctx: ScanCtx,
    raw: &[u8],
    rep: Option<&[u8]>,
    found: impl Iterator<Item = (KindId, bool)>,
) {
    let mut counts = [(KindId(0), false); MAX_COUNTS];
    let mut n = 0;
    for c in found {
        if n == MAX_COUNTS {
            return;
        }
        counts[n] = c;
        n += 1;
    }
    let mut bytes = Vec::with_capacity(raw.len() + rep.map_or(0, <[u8]>::len));
    bytes.extend_from_slice(raw);
    bytes.extend_from_slice(rep.unwrap_or_default());
    let key = Packed {
        bytes: bytes.into_boxed_slice(),
        raw_len: raw.len() as u32,
    };
    let entry = Entry {
        ctx,
        replaced: rep.is_some(),
        counts,
        n: n as u8,
    };
    VALUES.with(|values| values.borrow_mut().insert(key, entry));
}

/// Forgets this thread's entries.
pub(crate) fn clear_thread_cache() {
    VALUES.with(|values| values.borrow_mut().clear());
}
