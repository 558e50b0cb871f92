//! Role resolution: who is asking, and so which policy masks their responses.
//!
//! Resolvers run in the order the config lists them; the first answer wins; nothing
//! resolved means the rule set's default role, the most restricted one. A client never
//! picks its own role: a role header is honoured only from trusted peers (an auth proxy in
//! front) and removed, before anything reads it, when anyone else sends it.
pub mod jwt;
pub mod probe;

use crate::audit::{Audit, Event};
use crate::metrics::Metrics;
use crate::proxy::upstream::Upstream;
use crate::rules::{RoleId, RuleSet};
use crate::server::config::{parse_cidr, ResolverConfig};
use http::header::{HeaderMap, HeaderName, AUTHORIZATION};
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

/// The outcome for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub role: RoleId,
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
                } => Resolver::TrustedHeader {
                    header: HeaderName::from_bytes(header.as_bytes())?,
                    peers: trusted_peers.iter().filter_map(|p| parse_cidr(p)).collect(),
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
    pub async fn resolve(
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
            if let Resolver::TrustedHeader { header, peers, .. } = r {
                if headers.contains_key(header) && !peers.iter().any(|n| n.contains(&peer)) {
                    headers.remove(header);
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
            let name = match r {
                Resolver::TrustedHeader { header, map, .. } => headers
                    .get(header)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| map.get(v).cloned().unwrap_or_else(|| v.to_owned())),
                Resolver::Static { tokens } => bearer(headers).and_then(|t| {
                    tokens
                        .iter()
                        .find(|(k, _)| constant_time_eq(k.as_bytes(), t.as_bytes()))
                        .map(|(_, role)| role.clone())
                }),
                Resolver::Fixed { role } => Some(role.clone()),
                Resolver::Jwt(j) => match j.role(headers).await {
                    Ok(role) => Some(role),
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
                    Ok((role, cached)) => {
                        let label = if cached { "cached" } else { "probed" };
                        metrics
                            .role_resolutions
                            .with_label_values(&["upstream_probe", label])
                            .inc();
                        Some(role)
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
            match name.as_deref().map(|n| (n, rules.role(n))) {
                Some((_, Some(role))) => {
                    metrics
                        .role_resolutions
                        .with_label_values(&[r.name(), "ok"])
                        .inc();
                    return Resolution {
                        role,
                        by: r.name(),
                        spoofed,
                    };
                }
                Some((_, None)) => {
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

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
