//! The resolvers' settings, as `veil.yaml` writes them under `roles.resolvers` (the server's
//! config embeds these types; the resolvers take them as they are, parsed and typed).
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;
use std::time::Duration;

/// An address or a network (`10.0.0.0/8`, `127.0.0.1`, `::1`), parsed when the file is read
/// (an error carries its line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(pub ipnet::IpNet);

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        s.parse::<ipnet::IpNet>()
            .ok()
            .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
            .map(Cidr)
            .ok_or_else(|| format!("{s:?} is not an address or CIDR"))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A `humantime` duration (`250ms`, `8h`), as every duration of `veil.yaml` is written.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResolverConfig {
    /// A header set by an auth proxy in front, honoured only from trusted peers.
    TrustedHeader {
        header: String,
        trusted_peers: Vec<Cidr>,
        /// Header value → role; without it the value is the role name.
        #[serde(default)]
        map: std::collections::BTreeMap<String, String>,
        /// The header where the auth proxy names the user (oauth2-proxy:
        /// `X-Forwarded-User`): the principal of every per-caller limit and audit event.
        /// Honoured, like the role header, only from trusted peers.
        #[serde(default)]
        user_header: Option<String>,
    },
    /// API tokens (bearer or `api_access_token` header) mapped to roles.
    Static {
        tokens: std::collections::BTreeMap<String, String>,
    },
    /// Every request gets this role (one listener per audience, the demo).
    Fixed { role: String },
    /// A JWT (bearer token or cookie) verified against a JWKS URL or a static key.
    Jwt(JwtConfig),
    /// Ask the inbox who the caller is, with the caller's own credentials.
    UpstreamProbe(ProbeConfig),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Where the signing keys are published (fetched, cached, refreshed on an unknown `kid`).
    pub jwks_url: Option<String>,
    /// A static key: a PEM public key file (RS*/ES*/EdDSA) or, for HS*, a file holding the secret.
    pub key: Option<PathBuf>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Accepted algorithms (e.g. [RS256]). `none` is never accepted.
    pub algorithms: Vec<String>,
    /// JSON pointer to the claim holding the role or group (e.g. `/role`, `/groups/0`).
    #[serde(default = "default_claim")]
    pub claim: String,
    /// Claim value → role; without it the value is the role name.
    #[serde(default)]
    pub map: std::collections::BTreeMap<String, String>,
    /// Read the token from this cookie when there is no `Authorization: Bearer`.
    pub cookie: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The inbox's "who am I" endpoint (Chatwoot: `/api/v1/profile`).
    pub path: String,
    /// JSONPath to the role in its JSON answer (Chatwoot: `$.role`).
    pub role: String,
    /// JSONPath to the caller's user id in the same answer (Chatwoot: `$.id`): the
    /// principal every quota counts, whatever session the user signs in with. Without
    /// it, the session (a hash of the accepted credentials) is the principal.
    #[serde(default)]
    pub user: Option<String>,
    /// Inbox role → veil role (Chatwoot: administrator → admin, agent → agent).
    #[serde(default)]
    pub map: std::collections::BTreeMap<String, String>,
    /// How long an answer is cached per credential.
    #[serde(default = "default_probe_ttl", deserialize_with = "duration")]
    pub ttl: Duration,
    /// Request headers that carry the caller's credentials.
    #[serde(default = "default_probe_headers")]
    pub headers: Vec<String>,
    /// Most cached answers.
    #[serde(default = "default_probe_entries")]
    pub max_entries: usize,
}

fn default_claim() -> String {
    "/role".into()
}
fn default_probe_ttl() -> Duration {
    Duration::from_secs(60)
}
fn default_probe_headers() -> Vec<String> {
    [
        "cookie",
        "authorization",
        "api_access_token",
        "access-token",
        "client",
        "uid",
    ]
    .map(String::from)
    .to_vec()
}
fn default_probe_entries() -> usize {
    10_000
}
