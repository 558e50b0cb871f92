//! The `upstream_probe` resolver: veil asks the inbox who the caller is, with the caller's
//! own credentials (cookies, `api_access_token`, devise `access-token`/`client`/`uid`), reads
//! the role from the JSON answer with a JSONPath and maps it. Answers are cached per
//! credential hash (SHA-256 of the credential headers, never the credentials themselves)
//! for a short TTL; a failed probe gives no role (so the most restricted one applies) and
//! is not cached.
use super::settings::ProbeConfig;
use super::Principal;
use http::header::{HeaderMap, HeaderName};
use http_body_util::BodyExt;
use jsonpath_rust::parser::model::JpQuery;
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const PROBE_MAX_BODY: usize = 1 << 20;

pub struct ProbeResolver {
    path: String,
    role: JpQuery,
    user: Option<JpQuery>,
    pub map: std::collections::BTreeMap<String, String>,
    ttl: Duration,
    headers: Vec<HeaderName>,
    max_entries: usize,
    cache: Mutex<HashMap<[u8; 32], Answer>>,
}

/// A cached answer: the role, who the caller is, when it was asked.
#[derive(Clone)]
struct Answer {
    role: String,
    principal: Principal,
    at: Instant,
}

impl std::fmt::Debug for ProbeResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeResolver")
            .field("path", &self.path)
            .finish()
    }
}

/// Why a probe gave no role (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeFailure {
    NoCredentials,
    Failed,
    NoRole,
}

impl ProbeResolver {
    pub fn new(cfg: &ProbeConfig) -> anyhow::Result<ProbeResolver> {
        Ok(ProbeResolver {
            path: cfg.path.clone(),
            role: parse_json_path(&cfg.role)
                .map_err(|e| anyhow::anyhow!("probe role JSONPath: {e}"))?,
            user: cfg
                .user
                .as_deref()
                .map(parse_json_path)
                .transpose()
                .map_err(|e| anyhow::anyhow!("probe user JSONPath: {e}"))?,
            map: cfg.map.clone(),
            ttl: cfg.ttl,
            headers: cfg
                .headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect(),
            max_entries: cfg.max_entries.max(1),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The role name, from the cache or a fresh probe through `upstream`, whether it was
    /// cached, and who the caller is: the inbox's user id when the answer holds one
    /// (`user`), else the session (a hash of the credentials the upstream accepted).
    pub async fn role(
        &self,
        headers: &HeaderMap,
        upstream: &crate::upstream::Upstream,
    ) -> Result<(String, bool, Principal), ProbeFailure> {
        let mut h = Sha256::new();
        let mut any = false;
        for name in &self.headers {
            for v in headers.get_all(name) {
                any = true;
                h.update(name.as_str().as_bytes());
                h.update([0]);
                h.update(v.as_bytes());
                h.update([0]);
            }
        }
        if !any {
            return Err(ProbeFailure::NoCredentials);
        }
        let key: [u8; 32] = h.finalize().into();
        if let Some(a) = self.cache.lock().expect("not poisoned").get(&key) {
            if a.at.elapsed() < self.ttl {
                return Ok((a.role.clone(), true, a.principal.clone()));
            }
        }
        let mut req =
            http::Request::get(upstream.uri(&self.path).map_err(|_| ProbeFailure::Failed)?);
        for name in &self.headers {
            for v in headers.get_all(name) {
                req = req.header(name, v);
            }
        }
        req = req.header(http::header::HOST, upstream.authority.as_str());
        let req = req
            .body(crate::bodies::full(bytes::Bytes::new()))
            .map_err(|_| ProbeFailure::Failed)?;
        let resp = upstream
            .send_raw(req, PROBE_TIMEOUT)
            .await
            .map_err(|_| ProbeFailure::Failed)?;
        if !resp.status().is_success() {
            return Err(ProbeFailure::Failed);
        }
        let body = http_body_util::Limited::new(resp.into_body(), PROBE_MAX_BODY)
            .collect()
            .await
            .map_err(|_| ProbeFailure::Failed)?
            .to_bytes();
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| ProbeFailure::Failed)?;
        let found = js_path_process(&self.role, &json).map_err(|_| ProbeFailure::NoRole)?;
        let name = found
            .first()
            .and_then(|r| r.val.as_str())
            .ok_or(ProbeFailure::NoRole)?
            .to_owned();
        let role = self.map.get(&name).cloned().unwrap_or(name);
        let user = self.user.as_ref().and_then(|q| {
            let found = js_path_process(q, &json).ok()?;
            match found.first()?.val {
                serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        });
        let principal = match user {
            Some(id) => Principal::user("inbox", &id),
            None => Principal::hashed("session", &key),
        };
        let mut cache = self.cache.lock().expect("not poisoned");
        if cache.len() >= self.max_entries {
            let ttl = self.ttl;
            cache.retain(|_, a| a.at.elapsed() < ttl);
            if cache.len() >= self.max_entries {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Answer {
                role: role.clone(),
                principal: principal.clone(),
                at: Instant::now(),
            },
        );
        Ok((role, false, principal))
    }
}
