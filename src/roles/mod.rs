//! Role resolution: who is asking, and so which policy masks their responses.
//!
//! Resolvers run in the order the config lists them; the first answer wins; nothing
//! resolved means the rule set's default role, the most restricted one. A client never
//! picks its own role: a role header is honoured only from trusted peers (an auth proxy in
//! front) and removed, before anything reads it, when anyone else sends it.
pub mod jwt;
pub mod probe;
pub mod settings;

use crate::audit::{Audit, Event};
use crate::metrics::Metrics;
use crate::rules::{RoleId, RuleSet};
use crate::upstream::Upstream;
use http::header::{HeaderMap, HeaderName, AUTHORIZATION};
use settings::ResolverConfig;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// One configured resolver.
#[derive(Debug, Clone)]
pub enum Resolver {
    TrustedHeader {
        header: HeaderName,
        peers: Vec<ipnet::IpNet>,
        map: BTreeMap<String, String>,
        user_header: Option<HeaderName>,
    },
    Static {
        tokens: BTreeMap<String, String>,
    },
    Fixed {
        role: String,
    },
    Jwt(Arc<jwt::JwtResolver>),
    UpstreamProbe(Arc<probe::ProbeResolver>),
}

impl Resolver {
    pub fn name(&self) -> &'static str {
        match self {
            Resolver::TrustedHeader { .. } => "trusted_header",
            Resolver::Static { .. } => "static",
            Resolver::Fixed { .. } => "fixed",
            Resolver::Jwt(_) => "jwt",
            Resolver::UpstreamProbe(_) => "upstream_probe",
        }
    }
}

/// The resolvers of a proxy, in order.
#[derive(Debug, Clone, Default)]
pub struct RoleResolver {
    resolvers: Vec<Resolver>,
}

/// Who a request is from, as far as veil can tell: the key of every per-caller limit
/// (reveals, detokenization, the collection budget) and the "who" of audit events.
///
/// Only what a resolver verified names a caller: a JWT's `sub`, the user header of a
/// trusted auth proxy, a static token (by a hash), the credentials the inbox accepted
/// (by a hash). Anything else is the peer address: credentials nobody checked (a random
/// `Cookie:` header) never make a new caller, so they never make a fresh quota. Never a
/// credential in the clear.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal(Arc<str>);

impl Principal {
    pub fn user(source: &str, id: &str) -> Principal {
        Principal(format!("{source}:{id}").into())
    }

    /// A caller known by a secret: a short hash of it, never the secret.
    pub fn hashed(source: &str, secret: &[u8]) -> Principal {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(secret);
        Principal::user(source, &data_encoding::HEXLOWER.encode(&digest[..8]))
    }

    /// The peer address: an IPv4 address, or the /64 of an IPv6 one (a host commonly
    /// holds a whole /64, and would otherwise be 2^64 callers).
    pub fn peer(ip: IpAddr) -> Principal {
        match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                Principal::user("peer", &format!("{net}/64"))
            }
            IpAddr::V6(v6) => {
                Principal::user("peer", &v6.to_ipv4_mapped().expect("mapped").to_string())
            }
            IpAddr::V4(v4) => Principal::user("peer", &v4.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub role: RoleId,
    pub principal: Principal,
    /// The resolver that answered, or `default`.
    pub by: &'static str,
    /// A role header came from an untrusted peer and was removed.
    pub spoofed: bool,
}

impl RoleResolver {
    pub fn new(config: &[ResolverConfig]) -> anyhow::Result<RoleResolver> {
        let mut resolvers = Vec::new();
        for c in config {
            resolvers.push(match c {
                ResolverConfig::TrustedHeader {
                    header,
                    trusted_peers,
                    map,
                    user_header,
                } => Resolver::TrustedHeader {
                    // Without it every caller behind the auth proxy is the proxy's address:
                    // one principal, one budget for all of them.
                    user_header: {
                        if user_header.is_none() {
                            tracing::warn!(header = %header, "trusted_header has no user_header: callers behind the auth proxy share one quota and collection budget (its address)");
                        }
                        user_header
                            .as_deref()
                            .map(|h| HeaderName::from_bytes(h.as_bytes()))
                            .transpose()?
                    },
                    header: HeaderName::from_bytes(header.as_bytes())?,
                    peers: trusted_peers.iter().map(|c| c.0).collect(),
                    map: map.clone(),
                },
                ResolverConfig::Static { tokens } => Resolver::Static {
                    tokens: tokens.clone(),
                },
                ResolverConfig::Fixed { role } => Resolver::Fixed { role: role.clone() },
                ResolverConfig::Jwt(j) => Resolver::Jwt(Arc::new(jwt::JwtResolver::new(j)?)),
                ResolverConfig::UpstreamProbe(p) => {
                    Resolver::UpstreamProbe(Arc::new(probe::ProbeResolver::new(p)?))
                }
            });
        }
        Ok(RoleResolver { resolvers })
    }

    pub fn fixed(role: &str) -> RoleResolver {
        RoleResolver {
            resolvers: vec![Resolver::Fixed {
                role: role.to_owned(),
            }],
        }
    }

    /// Role names the resolvers can answer that the rule set does not define.
    pub fn unknown_roles(&self, rules: &RuleSet) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.resolvers {
            let names: Vec<&String> = match r {
                Resolver::TrustedHeader { map, .. } => map.values().collect(),
                Resolver::Static { tokens } => tokens.values().collect(),
                Resolver::Fixed { role } => vec![role],
                Resolver::Jwt(j) => j.map.values().collect(),
                Resolver::UpstreamProbe(p) => p.map.values().collect(),
            };
            out.extend(
                names
                    .into_iter()
                    .filter(|n| rules.role(n).is_none())
                    .cloned(),
            );
        }
        out
    }

    /// Decides the role of a request. Removes role headers an untrusted peer sent.
    /// The role header, veil's input, never reaches the upstream, whoever sent it.
    pub async fn resolve(
        &self,
        rules: &RuleSet,
        peer: IpAddr,
        headers: &mut HeaderMap,
        metrics: &Metrics,
        upstream: &Upstream,
        audit: &Audit,
    ) -> Resolution {
        let resolution = self
            .decide(rules, peer, headers, metrics, upstream, audit)
            .await;
        for r in &self.resolvers {
            if let Resolver::TrustedHeader { header, .. } = r {
                headers.remove(header);
            }
        }
        resolution
    }

    async fn decide(
        &self,
        rules: &RuleSet,
        peer: IpAddr,
        headers: &mut HeaderMap,
        metrics: &Metrics,
        upstream: &Upstream,
        audit: &Audit,
    ) -> Resolution {
        let mut spoofed = false;
        // Strip every untrusted role header first, whatever resolver answers.
        for r in &self.resolvers {
            if let Resolver::TrustedHeader {
                header,
                peers,
                user_header,
                ..
            } = r
            {
                let trusted = peers.iter().any(|n| n.contains(&peer));
                if let Some(u) = user_header.as_ref().filter(|_| !trusted) {
                    headers.remove(u);
                }
                // Other spellings a server may read as the same header (Rack and nginx map
                // `_` to `-`: `X_Veil_Role`) are removed whoever sends them: an auth proxy
                // sends the real name.
                let aliases: Vec<HeaderName> = headers
                    .keys()
                    .filter(|k| {
                        k.as_str().contains('_')
                            && std::iter::once(header).chain(user_header).any(|h| {
                                k.as_str().replace('_', "-") == h.as_str().replace('_', "-")
                                    && k.as_str() != h.as_str()
                            })
                    })
                    .cloned()
                    .collect();
                for a in &aliases {
                    headers.remove(a);
                }
                let canonical = !trusted && headers.remove(header).is_some();
                // One event per request that tried, however many spellings it used.
                if !trusted && (canonical || !aliases.is_empty()) {
                    spoofed = true;
                    audit.log(&Event::SpoofedRoleHeader {
                        peer: peer.to_string(),
                    });
                    metrics
                        .role_resolutions
                        .with_label_values(&["trusted_header", "spoofed"])
                        .inc();
                }
            }
        }
        for r in &self.resolvers {
            // The role name, and who the resolver says the caller is.
            let name: Option<(String, Option<Principal>)> = match r {
                Resolver::TrustedHeader {
                    header,
                    map,
                    user_header,
                    ..
                } => headers.get(header).and_then(|v| v.to_str().ok()).map(|v| {
                    let role = map.get(v).cloned().unwrap_or_else(|| v.to_owned());
                    let user = user_header
                        .as_ref()
                        .and_then(|u| headers.get(u))
                        .and_then(|u| u.to_str().ok())
                        .filter(|u| !u.is_empty())
                        .map(|u| Principal::user("user", u));
                    (role, user)
                }),
                Resolver::Static { tokens } => bearer(headers).and_then(|t| {
                    tokens
                        .iter()
                        .find(|(k, _)| constant_time_eq(k.as_bytes(), t.as_bytes()))
                        .map(|(k, role)| {
                            (
                                role.clone(),
                                Some(Principal::hashed("static", k.as_bytes())),
                            )
                        })
                }),
                Resolver::Fixed { role } => Some((role.clone(), None)),
                Resolver::Jwt(j) => match j.role(headers).await {
                    Ok((role, sub)) => Some((role, sub.map(|s| Principal::user("jwt", &s)))),
                    Err(jwt::JwtFailure::Missing) => None,
                    Err(f) => {
                        let label = if f == jwt::JwtFailure::Invalid {
                            "invalid"
                        } else {
                            "no_claim"
                        };
                        metrics
                            .role_resolutions
                            .with_label_values(&["jwt", label])
                            .inc();
                        audit.log(&Event::RoleResolution {
                            resolver: "jwt",
                            result: label,
                            peer: peer.to_string(),
                        });
                        None
                    }
                },
                Resolver::UpstreamProbe(p) => match p.role(headers, upstream).await {
                    Ok((role, cached, principal)) => {
                        let label = if cached { "cached" } else { "probed" };
                        metrics
                            .role_resolutions
                            .with_label_values(&["upstream_probe", label])
                            .inc();
                        Some((role, Some(principal)))
                    }
                    Err(probe::ProbeFailure::NoCredentials) => None,
                    Err(f) => {
                        let label = if f == probe::ProbeFailure::Failed {
                            "failed"
                        } else {
                            "no_role"
                        };
                        metrics
                            .role_resolutions
                            .with_label_values(&["upstream_probe", label])
                            .inc();
                        audit.log(&Event::RoleResolution {
                            resolver: "upstream_probe",
                            result: label,
                            peer: peer.to_string(),
                        });
                        None
                    }
                },
            };
            match name.map(|(n, who)| (rules.role(&n), who)) {
                Some((Some(role), who)) => {
                    metrics
                        .role_resolutions
                        .with_label_values(&[r.name(), "ok"])
                        .inc();
                    return Resolution {
                        role,
                        principal: who.unwrap_or_else(|| Principal::peer(peer)),
                        by: r.name(),
                        spoofed,
                    };
                }
                Some((None, _)) => {
                    metrics
                        .role_resolutions
                        .with_label_values(&[r.name(), "unknown_role"])
                        .inc();
                }
                None => {}
            }
        }
        metrics
            .role_resolutions
            .with_label_values(&["default", "ok"])
            .inc();
        Resolution {
            role: rules.default_role,
            principal: Principal::peer(peer),
            by: "default",
            spoofed,
        }
    }
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// An API token: a bearer token or Chatwoot's `api_access_token` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    bearer_token(headers).or_else(|| {
        headers
            .get("api_access_token")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    })
}

/// Compares two secrets in time that depends on neither (their SHA-256 digests, so not on
/// their lengths either).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest as _;
    use subtle::ConstantTimeEq as _;
    sha2::Sha256::digest(a)
        .ct_eq(&sha2::Sha256::digest(b))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_principal_is_its_address_or_its_ipv6_network() {
        let p = |s: &str| Principal::peer(s.parse().unwrap()).to_string();
        assert_eq!(p("10.1.2.3"), "peer:10.1.2.3");
        assert_eq!(p("2001:db8:1:2:aaaa::1"), "peer:2001:db8:1:2::/64");
        assert_eq!(p("2001:db8:1:2:bbbb::9"), p("2001:db8:1:2::7"));
        assert_eq!(p("::ffff:192.0.2.7"), "peer:192.0.2.7");
        assert_ne!(
            Principal::hashed("static", b"a").to_string(),
            Principal::hashed("static", b"b").to_string()
        );
        assert!(!Principal::hashed("static", b"s3cr3t")
            .to_string()
            .contains("s3cr3t"));
    }
}
