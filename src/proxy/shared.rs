//! Quotas and collection budgets shared by every replica, in Redis.
//!
//! Each operation is one Lua script, so it is atomic however many replicas ask at once:
//! a GCRA with the same meaning as the in-process limiter (governor), its clock Redis's
//! own (`TIME`), so replicas with skewed clocks still agree; and a set per caller and
//! window for the distinct contacts it has seen. Every call is bounded by a timeout; an
//! error or a timeout is [`Unavailable`], which the caller turns into a refusal, never an
//! allowance. Each worker thread keeps its own connection (a `ConnectionManager`, which
//! reconnects by itself), so a request never waits on another thread's socket.
use super::quota::{now_ms, Rate, Unavailable, Verdict};
use crate::roles::Principal;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// GCRA: KEYS[1] the caller's key; ARGV period (µs), burst, n. Returns -1 when allowed,
/// else the µs to wait.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + n * period
local allow_at = new_tat - burst * period
if allow_at > now then return math.ceil(allow_at - now) end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return -1
";

/// Distinct contacts: KEYS[1] the caller's set for this window; ARGV[1] its TTL (s), then
/// the ids. Returns {count before, count after}.
const COLLECT: &str = r"
local before = redis.call('SCARD', KEYS[1])
for i = 2, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return {before, redis.call('SCARD', KEYS[1])}
";

thread_local! {
    /// This thread's connection, with the URL it is for.
    static CONN: RefCell<Option<(String, ConnectionManager)>> = const { RefCell::new(None) };
}

/// The shared store.
pub struct RedisStore {
    url: String,
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    gcra: redis::Script,
    collect: redis::Script,
    /// After a failed connect, no new attempt before this (ms since the epoch): an outage
    /// costs one timeout a second, not one per request.
    retry_at: AtomicU64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisStore {
    pub fn new(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<RedisStore, redis::RedisError> {
        Ok(RedisStore {
            url: url.to_owned(),
            client: redis::Client::open(url)?,
            prefix: prefix.to_owned(),
            timeout,
            gcra: redis::Script::new(GCRA),
            collect: redis::Script::new(COLLECT),
            retry_at: AtomicU64::new(0),
        })
    }

    async fn conn(&self) -> Result<ConnectionManager, Unavailable> {
        let cached = CONN.with(|c| {
            c.borrow()
                .as_ref()
                .filter(|(url, _)| *url == self.url)
                .map(|(_, conn)| conn.clone())
        });
        if let Some(c) = cached {
            return Ok(c);
        }
        if now_ms() < self.retry_at.load(Ordering::Relaxed) {
            return Err(Unavailable);
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let made = tokio::time::timeout(
            self.timeout * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await;
        match made {
            Ok(Ok(conn)) => {
                CONN.with(|c| *c.borrow_mut() = Some((self.url.clone(), conn.clone())));
                Ok(conn)
            }
            _ => {
                self.retry_at.store(now_ms() + 1000, Ordering::Relaxed);
                Err(Unavailable)
            }
        }
    }

    /// Runs `f` on this thread's connection within the timeout.
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, Unavailable>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.conn().await?;
        match tokio::time::timeout(self.timeout, f(conn)).await {
            Ok(Ok(v)) => Ok(v),
            _ => Err(Unavailable),
        }
    }

    /// Takes `n` from `who`'s budget (GCRA, `rate.limit` per `rate.window`).
    pub async fn take(
        &self,
        scope: &str,
        role: &str,
        who: &Principal,
        n: u32,
        rate: Rate,
    ) -> Result<Verdict, Unavailable> {
        let period = (rate.window.as_micros() / u128::from(rate.limit.max(1))).max(1) as u64;
        let key = format!(
            "{}:rate:{scope}:{role}:{}:{}:{}",
            self.prefix,
            rate.limit,
            rate.window.as_secs(),
            who
        );
        let wait: i64 = self
            .call(|mut c| async move {
                self.gcra
                    .key(key)
                    .arg(period)
                    .arg(rate.limit)
                    .arg(n)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(if wait < 0 {
            Verdict::Allow
        } else {
            Verdict::Over {
                retry_after: Duration::from_micros(wait as u64),
            }
        })
    }

    fn seen_key(&self, role: &str, who: &Principal, window: Duration) -> String {
        let index = super::quota::window_index(window);
        format!(
            "{}:seen:{role}:{}:{who}:{index}",
            self.prefix,
            window.as_secs()
        )
    }

    /// Distinct contacts `who` has seen in the current window.
    pub async fn contacts_seen(
        &self,
        role: &str,
        who: &Principal,
        window: Duration,
    ) -> Result<u32, Unavailable> {
        let key = self.seen_key(role, who, window);
        self.call(|mut c| async move { redis::cmd("SCARD").arg(key).query_async(&mut c).await })
            .await
    }

    /// Adds ids to `who`'s window: the distinct counts before and after.
    pub async fn add_contacts(
        &self,
        role: &str,
        who: &Principal,
        ids: &[u64],
        window: Duration,
    ) -> Result<(u32, u32), Unavailable> {
        let key = self.seen_key(role, who, window);
        let ttl = window.as_secs() + 60;
        let mut inv = self.collect.key(key);
        inv.arg(ttl);
        for id in ids {
            inv.arg(format!("{id:016x}"));
        }
        self.call(|mut c| async move { inv.invoke_async(&mut c).await })
            .await
    }
}
