//! The `jwt` resolver: a bearer token (or cookie) verified with jsonwebtoken against a
//! static key or a JWKS URL. Issuer, audience, expiry and the allowed algorithms are
//! checked; a claim (JSON pointer) is mapped to a role.
//!
//! `alg: none` is never accepted (jsonwebtoken has no such algorithm), and the key type
//! must fit the algorithm, so an HS256 token signed with an RSA *public* key (the HS/RS
//! confusion) fails. JWKS keys are cached; an unknown `kid` triggers a refresh, at most
//! once per [`JWKS_REFRESH`], so a flood of forged `kid`s cannot turn veil into a fetcher.
use super::settings::JwtConfig;
use arc_swap::ArcSwap;
use http::header::{HeaderMap, COOKIE};
use http_body_util::BodyExt;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The least time between two JWKS fetches.
pub const JWKS_REFRESH: Duration = Duration::from_secs(30);
/// The largest JWKS document read.
const JWKS_MAX: usize = 256 * 1024;

enum Keys {
    Static(DecodingKey),
    Jwks {
        url: String,
        keys: ArcSwap<HashMap<String, DecodingKey>>,
        last_fetch: AtomicU64,
    },
}

pub struct JwtResolver {
    keys: Keys,
    validation: Validation,
    claim: String,
    pub map: std::collections::BTreeMap<String, String>,
    cookie: Option<String>,
}

impl std::fmt::Debug for JwtResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtResolver")
            .field("claim", &self.claim)
            .finish()
    }
}

/// Why a token gave no role (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtFailure {
    Missing,
    Invalid,
    NoClaim,
}

impl JwtResolver {
    pub fn new(cfg: &JwtConfig) -> anyhow::Result<JwtResolver> {
        let algs: Vec<Algorithm> = cfg
            .algorithms
            .iter()
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|_| anyhow::anyhow!("unknown JWT algorithm {a}"))
            })
            .collect::<Result<_, _>>()?;
        let mut validation = Validation::new(algs[0]);
        validation.algorithms = algs.clone();
        validation.validate_exp = true;
        validation.leeway = 30;
        match &cfg.issuer {
            Some(i) => validation.set_issuer(&[i]),
            None => validation.iss = None,
        }
        match &cfg.audience {
            Some(a) => validation.set_audience(&[a]),
            None => validation.validate_aud = false,
        }
        let keys = match (&cfg.key, &cfg.jwks_url) {
            (Some(path), None) => {
                let bytes = std::fs::read(path)?;
                let a = algs[0];
                let key = match a {
                    Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                        DecodingKey::from_secret(String::from_utf8_lossy(&bytes).trim().as_bytes())
                    }
                    Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&bytes)?,
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(&bytes)?,
                    _ => DecodingKey::from_rsa_pem(&bytes)?,
                };
                if algs.iter().any(|x| family(*x) != family(a)) {
                    anyhow::bail!("a static JWT key serves one algorithm family; list only {:?}-family algorithms", a);
                }
                Keys::Static(key)
            }
            (None, Some(url)) => Keys::Jwks {
                url: url.clone(),
                keys: ArcSwap::from_pointee(HashMap::new()),
                last_fetch: AtomicU64::new(0),
            },
            _ => anyhow::bail!("a jwt resolver needs exactly one of key, jwks_url"),
        };
        Ok(JwtResolver {
            keys,
            validation,
            claim: cfg.claim.clone(),
            map: cfg.map.clone(),
            cookie: cfg.cookie.clone(),
        })
    }

    fn token<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        if let Some(t) = super::bearer_token(headers) {
            return Some(t);
        }
        let name = self.cookie.as_deref()?;
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|kv| {
                kv.trim()
                    .strip_prefix(name)
                    .and_then(|r| r.strip_prefix('='))
            })
    }

    /// The role name the token's claim gives and the token's subject (`sub`, when it has
    /// one), or why there is none.
    pub async fn role(&self, headers: &HeaderMap) -> Result<(String, Option<String>), JwtFailure> {
        let token = self.token(headers).ok_or(JwtFailure::Missing)?;
        let header = decode_header(token).map_err(|_| JwtFailure::Invalid)?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(JwtFailure::Invalid);
        }
        let key = match &self.keys {
            Keys::Static(k) => k.clone(),
            Keys::Jwks { .. } => self
                .jwks_key(header.kid.as_deref())
                .await
                .ok_or(JwtFailure::Invalid)?,
        };
        let data = decode::<serde_json::Value>(token, &key, &self.validation)
            .map_err(|_| JwtFailure::Invalid)?;
        let value = data
            .claims
            .pointer(&self.claim)
            .ok_or(JwtFailure::NoClaim)?;
        let name = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str())
                .find(|s| self.map.contains_key(*s))
                .ok_or(JwtFailure::NoClaim)?
                .to_owned(),
            other => other.to_string(),
        };
        let sub = data
            .claims
            .get("sub")
            .and_then(|s| s.as_str())
            .map(str::to_owned);
        Ok((self.map.get(&name).cloned().unwrap_or(name), sub))
    }

    async fn jwks_key(&self, kid: Option<&str>) -> Option<DecodingKey> {
        let Keys::Jwks {
            url,
            keys,
            last_fetch,
        } = &self.keys
        else {
            return None;
        };
        let kid = kid?;
        if let Some(k) = keys.load().get(kid) {
            return Some(k.clone());
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        let last = last_fetch.load(Ordering::Relaxed);
        if now.saturating_sub(last) < JWKS_REFRESH.as_secs()
            || last_fetch
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return None;
        }
        match fetch_jwks(url).await {
            Ok(set) => {
                let map: HashMap<String, DecodingKey> = set
                    .keys
                    .iter()
                    .filter_map(|j| {
                        Some((j.common.key_id.clone()?, DecodingKey::from_jwk(j).ok()?))
                    })
                    .collect();
                keys.store(Arc::new(map));
                tracing::info!(url, "JWKS refreshed");
            }
            Err(e) => tracing::warn!(url, error = %e, "JWKS fetch failed"),
        }
        keys.load().get(kid).cloned()
    }
}

fn family(a: Algorithm) -> u8 {
    match a {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => 0,
        Algorithm::ES256 | Algorithm::ES384 => 1,
        Algorithm::EdDSA => 2,
        _ => 3,
    }
}

async fn fetch_jwks(url: &str) -> anyhow::Result<JwkSet> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()?
        .https_or_http()
        .enable_http1()
        .build();
    let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
    let resp = tokio::time::timeout(Duration::from_secs(5), client.get(url.parse()?)).await??;
    anyhow::ensure!(
        resp.status().is_success(),
        "JWKS answered {}",
        resp.status()
    );
    let body = http_body_util::Limited::new(resp.into_body(), JWKS_MAX)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_bytes();
    Ok(serde_json::from_slice(&body)?)
}
