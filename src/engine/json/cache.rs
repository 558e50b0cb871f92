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

struct Entry {
    ctx: ScanCtx,
    /// The replacement, quotes included; `None` when the string stays as it is.
    rep: Option<Box<[u8]>>,
    /// The findings' kinds, and whether each was served in the clear.
    counts: Box<[(KindId, bool)]>,
}

thread_local! {
    static VALUES: RefCell<Memo<Box<[u8]>, Entry>> = RefCell::new(Memo::new(ENTRIES));
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
            .get_with(raw, |e| {
                if e.ctx != ctx {
                    return None;
                }
                for &(kind, clear) in e.counts.iter() {
                    counts.bump(kind, clear);
                }
                Some(match &e.rep {
                    Some(r) => {
                        rep.extend_from_slice(r);
                        true
                    }
                    None => false,
                })
            })
            .flatten()
    })
}

/// Records the result of scanning `raw` with `ctx`.
pub fn remember(
    ctx: ScanCtx,
    raw: &[u8],
    rep: Option<&[u8]>,
    counts: impl Iterator<Item = (KindId, bool)>,
) {
    VALUES.with(|values| {
        let mut values = values.borrow_mut();
        let entry = Entry {
            ctx,
            rep: rep.map(Into::into),
            counts: counts.collect(),
        };
        values.insert(raw.into(), entry);
    });
}

/// Forgets this thread's entries.
pub fn clear_thread_cache() {
    VALUES.with(|values| values.borrow_mut().clear());
}
