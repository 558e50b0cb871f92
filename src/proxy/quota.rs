//! Per-caller quotas: reveals and detokenizations per [`Principal`], per role.
//!
//! Each quota is a GCRA (governor): `limit` tokens per `window`, refilled evenly, so a
//! caller may spend the whole budget at once and then one token per `window / limit`.
//! Callers are principals, never raw credentials, so random `Cookie:` headers do not make
//! new callers; and the state is bounded: past `max_callers` keys a limiter forgets the
//! callers whose budget is full again, and a caller it has no room for is refused
//! (fail closed), never let through unmetered.
use super::shared::RedisStore;
use crate::roles::Principal;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What a quota says about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Over the quota: try again after this long.
    Over {
        retry_after: Duration,
    },
    /// The shared store could not be asked: refused, as if over (never allowed blind).
    Unavailable,
}

/// One quota: `limit` per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    pub limit: u32,
    pub window: Duration,
}

impl Rate {
    pub fn per_minute(limit: u32) -> Rate {
        Rate {
            limit,
            window: Duration::from_secs(60),
        }
    }

    pub fn per_hour(limit: u32) -> Rate {
        Rate {
            limit,
            window: Duration::from_secs(3600),
        }
    }
}

/// A limiter per scope (`reveal`, `detokenize`), role and rate.
type LimiterKey = (&'static str, Box<str>, Rate);

type Keyed = RateLimiter<Principal, DefaultKeyedStateStore<Principal>, DefaultClock>;

struct Limiter {
    gcra: Keyed,
    /// When the map is over this many keys, forget the callers whose budget is full.
    next_sweep: AtomicUsize,
}

/// The quotas of one process, in memory.
pub struct LocalQuotas {
    limiters: RwLock<HashMap<LimiterKey, Arc<Limiter>>>,
    max_callers: usize,
    clock: DefaultClock,
}

impl std::fmt::Debug for LocalQuotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalQuotas")
            .field("max_callers", &self.max_callers)
            .finish()
    }
}

impl Default for LocalQuotas {
    fn default() -> Self {
        LocalQuotas::new(100_000)
    }
}

impl LocalQuotas {
    /// Quotas that track at most about `max_callers` callers per limiter.
    pub fn new(max_callers: usize) -> LocalQuotas {
        LocalQuotas {
            limiters: RwLock::new(HashMap::new()),
            max_callers: max_callers.max(16),
            clock: DefaultClock::default(),
        }
    }

    fn limiter(&self, scope: &'static str, role: &str, rate: Rate) -> Option<Arc<Limiter>> {
        let key = (scope, Box::<str>::from(role), rate);
        if let Some(l) = self.limiters.read().ok()?.get(&key) {
            return Some(l.clone());
        }
        let limit = NonZeroU32::new(rate.limit)?;
        let period = rate.window / rate.limit;
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))?.allow_burst(limit);
        let mut map = self.limiters.write().ok()?;
        Some(
            map.entry(key)
                .or_insert_with(|| {
                    Arc::new(Limiter {
                        gcra: RateLimiter::keyed(quota),
                        next_sweep: AtomicUsize::new(self.max_callers),
                    })
                })
                .clone(),
        )
    }

    /// Takes `n` from `who`'s budget of `scope` (for `role`). A zero limit refuses all.
    pub fn take(
        &self,
        scope: &'static str,
        role: &str,
        who: &Principal,
        n: u32,
        rate: Rate,
    ) -> Verdict {
        let Some(n) = NonZeroU32::new(n) else {
            return Verdict::Allow;
        };
        let Some(limiter) = self.limiter(scope, role, rate) else {
            return Verdict::Over {
                retry_after: rate.window,
            };
        };
        let len = limiter.gcra.len();
        if len >= limiter.next_sweep.load(Ordering::Relaxed) {
            limiter.gcra.retain_recent();
            limiter.gcra.shrink_to_fit();
            // Sweep again only when the map has doubled: the sweep costs a pass over it.
            let left = limiter.gcra.len();
            limiter
                .next_sweep
                .store((left * 2).max(self.max_callers), Ordering::Relaxed);
            if left >= self.max_callers * 4 {
                // Full of callers spending right now: no room for a new one.
                return Verdict::Over {
                    retry_after: rate.window,
                };
            }
        }
        match limiter.gcra.check_key_n(who, n) {
            Ok(Ok(())) => Verdict::Allow,
            Ok(Err(not_until)) => Verdict::Over {
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
            // More than the whole budget at once.
            Err(_) => Verdict::Over {
                retry_after: rate.window,
            },
        }
    }

    /// Callers tracked by the limiter of `scope` and `role` (tests, metrics).
    pub fn callers(&self, scope: &'static str, role: &str, rate: Rate) -> usize {
        self.limiter(scope, role, rate).map_or(0, |l| l.gcra.len())
    }
}

/// The distinct contacts each caller has seen in the current window, per role: the
/// collection budgets of one process. Contacts are ids (a hash of their token), never
/// values; a caller's set stops growing one past its budget.
pub struct LocalCollections {
    seen: dashmap::DashMap<(Box<str>, Principal), Seen>,
    max_callers: usize,
}

struct Seen {
    window: u64,
    ids: rustc_hash::FxHashSet<u64>,
}

impl std::fmt::Debug for LocalCollections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCollections")
            .field("callers", &self.seen.len())
            .finish()
    }
}

impl Default for LocalCollections {
    fn default() -> Self {
        LocalCollections::new(100_000)
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// The number of the fixed window `now` falls in.
pub fn window_index(window: Duration) -> u64 {
    now_ms() / 1000 / window.as_secs().max(1)
}

impl LocalCollections {
    pub fn new(max_callers: usize) -> LocalCollections {
        LocalCollections {
            seen: dashmap::DashMap::new(),
            max_callers: max_callers.max(16),
        }
    }

    /// Adds `ids` to `who`'s window: how many distinct contacts it held before and holds
    /// after (at most `budget + 1`). `None`: no room for a new caller (refused).
    pub fn add(
        &self,
        role: &str,
        who: &Principal,
        ids: &[u64],
        budget: u32,
        window: Duration,
    ) -> Option<(u32, u32)> {
        let now = window_index(window);
        let key = (Box::<str>::from(role), who.clone());
        if !self.seen.contains_key(&key) && self.seen.len() >= self.max_callers {
            self.seen.retain(|_, s| s.window == now);
            if self.seen.len() >= self.max_callers {
                return None;
            }
        }
        let mut entry = self.seen.entry(key).or_insert_with(|| Seen {
            window: now,
            ids: Default::default(),
        });
        if entry.window != now {
            entry.window = now;
            entry.ids.clear();
        }
        let before = entry.ids.len() as u32;
        for id in ids {
            if entry.ids.len() > budget as usize {
                break;
            }
            entry.ids.insert(*id);
        }
        Some((before, entry.ids.len() as u32))
    }

    /// How many distinct contacts `who` has seen in the current window.
    pub fn count(&self, role: &str, who: &Principal, window: Duration) -> u32 {
        let now = window_index(window);
        self.seen
            .get(&(Box::<str>::from(role), who.clone()))
            .filter(|s| s.window == now)
            .map_or(0, |s| s.ids.len() as u32)
    }
}

/// The quotas a proxy enforces: in this process, or shared by every replica (Redis).
/// When the shared store cannot answer, what needs it is refused: a metric and a log
/// line (at most one a second) say so.
#[derive(Debug, Default)]
pub struct Quotas {
    local: LocalQuotas,
    collections: LocalCollections,
    shared: Option<RedisStore>,
    store_errors: Option<prometheus::IntCounter>,
    /// When the last "store unavailable" line was logged (ms since the epoch).
    last_log: AtomicU64,
}

/// The shared store could not be reached: whatever asked is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

impl Quotas {
    /// Quotas kept in `store`, shared by every replica that uses it; `errors` counts the
    /// calls it could not answer.
    pub fn shared(store: RedisStore, errors: prometheus::IntCounter) -> Quotas {
        Quotas {
            shared: Some(store),
            store_errors: Some(errors),
            ..Quotas::default()
        }
    }

    fn unavailable(&self, what: &str) {
        if let Some(c) = &self.store_errors {
            c.inc();
        }
        let now = now_ms();
        let last = self.last_log.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1000
            && self
                .last_log
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::error!(
                what,
                "the shared quota store (Redis) cannot be reached: refusing what needs it"
            );
        }
    }

    /// Takes `n` from `who`'s budget of `scope` for `role`.
    pub async fn take(
        &self,
        scope: &'static str,
        role: &str,
        who: &Principal,
        n: u32,
        rate: Rate,
    ) -> Verdict {
        if n == 0 {
            return Verdict::Allow;
        }
        match &self.shared {
            None => self.local.take(scope, role, who, n, rate),
            Some(store) => match store.take(scope, role, who, n, rate).await {
                Ok(v) => v,
                Err(Unavailable) => {
                    self.unavailable(scope);
                    Verdict::Unavailable
                }
            },
        }
    }

    /// Distinct contacts `who` (as `role`) has seen in the current window of `window`.
    pub async fn contacts_seen(
        &self,
        role: &str,
        who: &Principal,
        window: Duration,
    ) -> Result<u32, Unavailable> {
        match &self.shared {
            None => Ok(self.collections.count(role, who, window)),
            Some(store) => store
                .contacts_seen(role, who, window)
                .await
                .inspect_err(|_| self.unavailable("collection")),
        }
    }

    /// Adds the contacts of one response to `who`'s window: the distinct counts before
    /// and after.
    pub async fn add_contacts(
        &self,
        role: &str,
        who: &Principal,
        ids: &[u64],
        budget: u32,
        window: Duration,
    ) -> Result<(u32, u32), Unavailable> {
        match &self.shared {
            None => self
                .collections
                .add(role, who, ids, budget, window)
                .ok_or(Unavailable),
            Some(store) => store
                .add_contacts(
                    role,
                    who,
                    &ids[..ids.len().min(budget as usize + 1)],
                    window,
                )
                .await
                .inspect_err(|_| self.unavailable("collection")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_spends_its_budget_and_others_keep_theirs() {
        let q = LocalQuotas::default();
        let alice = Principal::user("jwt", "alice");
        let bob = Principal::user("jwt", "bob");
        let rate = Rate::per_hour(3);
        assert_eq!(
            q.take("detokenize", "agent", &alice, 2, rate),
            Verdict::Allow
        );
        assert_eq!(
            q.take("detokenize", "agent", &alice, 1, rate),
            Verdict::Allow
        );
        assert!(matches!(
            q.take("detokenize", "agent", &alice, 1, rate),
            Verdict::Over { retry_after } if retry_after > Duration::from_secs(1000)
        ));
        assert_eq!(q.take("detokenize", "agent", &bob, 3, rate), Verdict::Allow);
        // Another scope or role is another budget.
        assert_eq!(q.take("reveal", "agent", &alice, 1, rate), Verdict::Allow);
        assert_eq!(
            q.take("detokenize", "supervisor", &alice, 1, rate),
            Verdict::Allow
        );
        // More than the whole budget at once is refused.
        assert!(matches!(
            q.take("detokenize", "agent", &bob, 4, Rate::per_hour(3)),
            Verdict::Over { .. }
        ));
    }

    #[test]
    fn a_collection_counts_distinct_contacts_up_to_one_past_its_budget() {
        let c = LocalCollections::new(16);
        let ana = Principal::user("user", "ana");
        let hour = Duration::from_secs(3600);
        assert_eq!(c.add("agent", &ana, &[1, 2, 2, 3], 5, hour), Some((0, 3)));
        assert_eq!(c.add("agent", &ana, &[3, 4], 5, hour), Some((3, 4)));
        assert_eq!(
            c.add("agent", &ana, &(10..100).collect::<Vec<_>>(), 5, hour),
            Some((4, 6))
        );
        assert_eq!(c.count("agent", &ana, hour), 6);
        assert_eq!(c.count("supervisor", &ana, hour), 0);
        // Full of callers in the current window: a new one is refused, a known one is not.
        for i in 0..15 {
            let who = Principal::user("peer", &i.to_string());
            assert!(c.add("agent", &who, &[1], 5, hour).is_some());
        }
        assert_eq!(
            c.add("agent", &Principal::user("peer", "new"), &[1], 5, hour),
            None
        );
        assert_eq!(c.add("agent", &ana, &[1], 5, hour), Some((6, 6)));
    }

    #[test]
    fn state_stays_bounded_under_a_flood_of_callers() {
        let q = LocalQuotas::new(100);
        let rate = Rate {
            limit: 5,
            window: Duration::from_millis(50),
        };
        for i in 0..2_000 {
            let who = Principal::user("peer", &i.to_string());
            let _ = q.take("reveal", "agent", &who, 1, rate);
            if i % 500 == 499 {
                std::thread::sleep(Duration::from_millis(60));
            }
        }
        assert!(
            q.callers("reveal", "agent", rate) <= 1_000,
            "{}",
            q.callers("reveal", "agent", rate)
        );
    }
}
