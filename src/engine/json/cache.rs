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

/// Longest string value cached (its length is stored in one byte).
pub const MAX_LEN: usize = u8::MAX as usize;
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

/// Distinct [`ScanCtx`]s a thread keeps entries for. One more clears the cache: contexts
/// change only with a reload, a key rotation or another role or route.
const MAX_CTXS: usize = 32;

/// The key, one heap block: the raw string's length (one byte), the raw string, then its
/// replacement. A lookup is bound by memory latency, not by hashing, so a hit reads this
/// one block, and the table itself stays small (a pointer and a few bytes per entry, the
/// context as a one-byte index into [`Values::ctxs`]) to stay in the core's cache.
struct Packed(Box<[u8]>);

impl Packed {
    fn new(raw: &[u8], rep: &[u8]) -> Packed {
        let len = u8::try_from(raw.len()).expect("cached strings are at most MAX_LEN bytes");
        let mut bytes = Vec::with_capacity(1 + raw.len() + rep.len());
        bytes.push(len);
        bytes.extend_from_slice(raw);
        bytes.extend_from_slice(rep);
        Packed(bytes.into_boxed_slice())
    }

    fn raw(&self) -> &[u8] {
        &self.0[1..1 + usize::from(self.0[0])]
    }

    fn rep(&self) -> &[u8] {
        &self.0[1 + usize::from(self.0[0])..]
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
    /// Index of the entry's context in [`Values::ctxs`].
    ctx: u8,
    /// The string is replaced (by the bytes after it in its key).
    replaced: bool,
    /// The findings' kinds, and whether each was served in the clear (`n` of them).
    n: u8,
    counts: [(KindId, bool); MAX_COUNTS],
}

struct Values {
    memo: Memo<Packed, Entry>,
    /// The contexts entries were made in; an entry holds its index.
    ctxs: Vec<ScanCtx>,
}

impl Values {
    fn ctx_index(&self, ctx: &ScanCtx) -> Option<u8> {
        // Most recent last: a thread usually serves one or two contexts.
        let i = self.ctxs.iter().rposition(|c| c == ctx)?;
        Some(i as u8)
    }

    fn clear(&mut self) {
        self.memo.clear();
        self.ctxs.clear();
    }
}

thread_local! {
    static VALUES: RefCell<Values> = RefCell::new(Values {
        memo: Memo::new(ENTRIES),
        ctxs: Vec::new(),
    });
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
        values
            .memo
            .get_key_value_with(raw, |key, e| {
                if e.ctx != at {
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

/// Records the result of scanning `raw` (at most [`MAX_LEN`] bytes) with `ctx`.
pub fn remember(
    ctx: ScanCtx,
    raw: &[u8],
    rep: Option<&[u8]>,
    found: impl Iterator<Item = (KindId, bool)>,
) {
    if raw.len() > MAX_LEN {
        return;
    }
    let mut counts = [(KindId(0), false); MAX_COUNTS];
    let mut n = 0;
    for c in found {
        if n == MAX_COUNTS {
            return;
        }
        counts[n] = c;
        n += 1;
    }
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
        let entry = Entry {
            ctx: at,
            replaced: rep.is_some(),
            n: n as u8,
            counts,
        };
        values
            .memo
            .insert(Packed::new(raw, rep.unwrap_or_default()), entry);
    })
}

/// Forgets this thread's entries.
pub(crate) fn clear_thread_cache() {
    VALUES.with(|values| values.borrow_mut().clear());
}
