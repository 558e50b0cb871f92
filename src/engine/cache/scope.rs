//! The identity every cache entry carries: a [`ScopeId`], the number of one
//! [`Scope`](crate::vocab::plan::Scope) (the rule set, role, key ring, field rules and
//! settings a plan pairs).
//!
//! A masker takes its scope's id once, when it is made ([`enter`]), and every cache
//! lookup and insert of that masker carries it; an entry is used only under the id it was
//! made with. Ids are unique in the process and never reused: an id names one scope
//! forever, so an entry cannot be read under another scope even by a masker that a
//! work-stealing runtime moved to another thread, or after its scope was forgotten.
//!
//! Each thread maps the scopes it has seen to ids in a small table, least recently used
//! first out ([`MAX_SCOPES`]): equal scopes get equal ids on one thread, so one role's
//! entries are found by its next response, and three masked roles or a few reloads do not
//! empty the caches. Entries of a forgotten scope are never matched again and age out
//! with their cache's generations.
//!
//! When rules or keys are replaced, [`retire`] makes every thread drop what it holds at its
//! next [`enter`]: clear PII made with the old keys is not kept warm for nothing.
use super::stats::{self, Cache};
use crate::vocab::plan::Scope;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

/// The number of one scope in this process; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScopeId(u64);

impl ScopeId {
    /// The id's bytes, as records store them.
    pub(crate) fn to_le_bytes(self) -> [u8; 8] {
        self.0.to_le_bytes()
    }

    pub(crate) fn get(self) -> u64 {
        self.0
    }

    /// An id made up by a test of a cache alone.
    #[cfg(test)]
    pub(crate) fn for_test(n: u64) -> ScopeId {
        ScopeId(u64::MAX - n)
    }
}

/// Scopes a thread keeps ids for.
pub const MAX_SCOPES: usize = 32;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// Bumped by [`retire`].
static EPOCH: AtomicU64 = AtomicU64::new(0);

struct Table {
    /// Scope, its id, when it was last entered (this thread's clock).
    scopes: Vec<(Scope, ScopeId, u64)>,
    clock: u64,
}

thread_local! {
    static TABLE: RefCell<Table> = const {
        RefCell::new(Table {
            scopes: Vec::new(),
            clock: 0,
        })
    };
    static SEEN_EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// The id of `scope` on this thread: the one it had if this thread still knows it, else
/// a new one (the least recently used scope is forgotten when the table is full).
pub fn enter(scope: &Scope) -> ScopeId {
    let epoch = EPOCH.load(Ordering::Acquire);
    if SEEN_EPOCH.with(|s| s.replace(epoch)) != epoch {
        super::clear_thread_caches();
    }
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.clock += 1;
        let now = t.clock;
        if let Some(e) = t.scopes.iter_mut().find(|e| e.0 == *scope) {
            e.2 = now;
            stats::hit(Cache::Scopes);
            return e.1;
        }
        stats::miss(Cache::Scopes);
        let id = ScopeId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
        if t.scopes.len() == MAX_SCOPES {
            let lru = (0..t.scopes.len())
                .min_by_key(|&i| t.scopes[i].2)
                .expect("a full table");
            t.scopes.swap_remove(lru);
            stats::evicted(Cache::Scopes, 1);
        }
        t.scopes.push((*scope, id, now));
        id
    })
}

/// Makes every thread drop its cached entries at its next [`enter`] (call it when rules or
/// keys are replaced).
pub fn retire() {
    EPOCH.fetch_add(1, Ordering::AcqRel);
}

/// Forgets this thread's scope table (its ids stay unique; new ones are handed out).
pub(crate) fn clear_thread_table() {
    TABLE.with(|t| t.borrow_mut().scopes.clear());
}

/// Scopes this thread knows (tests).
#[cfg(test)]
pub(crate) fn known() -> usize {
    TABLE.with(|t| t.borrow().scopes.len())
}
