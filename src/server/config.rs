//! `veil.yaml`: the proxy's configuration. Raw serde types first (unknown keys are errors,
//! with their line), then [`Config::validate`] checks addresses, files and values and
//! reports each problem with its line and reason.
use crate::roles::settings::duration;
pub use crate::roles::settings::{JwtConfig, ProbeConfig, ResolverConfig};
use crate::rules::diagnostic::{Diagnostic, Diagnostics, Severity, Source};
use crate::upstream::UpstreamSettings;
use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the proxy listens. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Serve TLS downstream with these PEM files (reloaded with the rules).
    pub tls: Option<TlsConfig>,
    /// Worker threads, each serving its own connections start to end. Default 0: one per
    /// CPU the process may use (affinity and cgroup quota included).
    #[serde(default)]
    pub workers: usize,
    pub upstream: UpstreamConfig,
    /// The rule folder. Default `rules`.
    #[serde(default = "default_rules")]
    pub rules: PathBuf,
    /// The key file (`veil keygen`); without it, `VEIL_KEYS`; without that, a random key.
    pub keys: Option<PathBuf>,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub roles: RolesConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub reveal: RevealConfig,
    /// Where per-caller quotas and collection budgets live: this process, or a Redis
    /// shared by every replica.
    #[serde(default)]
    pub quotas: QuotasConfig,
}

/// The quota store.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasConfig {
    /// `redis://[:password@]host:port/db`; without it, quotas are per process. Or the
    /// `VEIL_REDIS_URL` variable.
    pub redis: Option<String>,
    /// Longest wait for Redis; past it, what needs the store is refused. Default 250ms.
    #[serde(default, deserialize_with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// Key prefix, so that several deployments can share one Redis. Default `veil`.
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `http://host:port` or `https://host:port` (a path prefix is not supported).
    pub url: String,
    /// A PEM CA bundle to trust instead of the system roots (https upstreams).
    pub ca: Option<PathBuf>,
    /// Send the client's `Host` upstream instead of the upstream's own authority.
    #[serde(default)]
    pub preserve_host: bool,
    #[serde(default = "default_connect_timeout", deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// Time to the response headers; past it the client gets 504.
    #[serde(default = "default_response_timeout", deserialize_with = "duration")]
    pub response_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `/metrics`, `/healthz`, `/readyz`. Default `127.0.0.1:9090`; `off` to disable.
    #[serde(default = "default_admin_listen")]
    pub listen: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: default_admin_listen(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request head (request line and headers). Default 64 KiB.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Concurrent downstream connections; more wait in the accept queue. Default 10000.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Largest request body veil buffers to detokenize. Default 10 MiB.
    #[serde(default = "default_max_request_body")]
    pub max_request_body: usize,
    /// Largest WebSocket message (fragments reassembled). Default 1 MiB.
    #[serde(default = "default_ws_message")]
    pub websocket_max_message: usize,
    /// How long a connection may take to send its first request's head (HTTP/2 preface
    /// included); silent and half-sent connections are closed after it. Default 10 s.
    #[serde(default = "default_header_timeout", deserialize_with = "duration")]
    pub header_read_timeout: Duration,
    /// Connections one client address (an IPv6 /64) may hold at once; more are closed at
    /// once, so one host cannot take every connection. Default 512.
    #[serde(default = "default_max_connections_per_peer")]
    pub max_connections_per_peer: usize,
    /// Longest wait for the next piece of a response body from the upstream; past it the
    /// response is aborted (the client sees a cut body, never a hang). Default 60 s.
    #[serde(default = "default_body_idle_timeout", deserialize_with = "duration")]
    pub upstream_body_idle_timeout: Duration,
    /// How long in-flight requests may finish after SIGTERM. Default 30 s.
    #[serde(default = "default_grace", deserialize_with = "duration")]
    pub shutdown_grace: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_header_bytes: default_max_header_bytes(),
            max_connections: default_max_connections(),
            max_request_body: default_max_request_body(),
            websocket_max_message: default_ws_message(),
            header_read_timeout: default_header_timeout(),
            max_connections_per_peer: default_max_connections_per_peer(),
            upstream_body_idle_timeout: default_body_idle_timeout(),
            shutdown_grace: default_grace(),
        }
    }
}

/// How a request's role is decided: resolvers in order, first answer wins; nothing means
/// the rule set's default (most restricted) role.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesConfig {
    #[serde(default)]
    pub resolvers: Vec<ResolverConfig>,
}

/// The reveal endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealConfig {
    /// `POST <path>` with `{"token": "vt_…"}`.
    #[serde(default = "default_reveal_path")]
    pub path: String,
    /// Reveals per caller per minute.
    #[serde(default = "default_reveal_rate")]
    pub per_minute: u32,
}

impl Default for RevealConfig {
    fn default() -> Self {
        RevealConfig {
            path: default_reveal_path(),
            per_minute: default_reveal_rate(),
        }
    }
}

fn default_reveal_path() -> String {
    "/_veil/reveal".into()
}
fn default_reveal_rate() -> u32 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` or `json`.
    #[serde(default = "default_log_format")]
    pub format: String,
    /// A tracing filter, e.g. `info` or `veil=debug`.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// A file to append JSON lines to, or `-` for stdout. Default: off.
    pub path: Option<String>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_rules() -> PathBuf {
    "rules".into()
}
fn default_admin_listen() -> String {
    "127.0.0.1:9090".into()
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_response_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_header_bytes() -> usize {
    64 * 1024
}
fn default_max_connections() -> usize {
    10_000
}
fn default_max_request_body() -> usize {
    10 << 20
}
fn default_ws_message() -> usize {
    1 << 20
}
fn default_max_connections_per_peer() -> usize {
    512
}
fn default_body_idle_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_log_format() -> String {
    "pretty".into()
}
fn default_log_level() -> String {
    "info".into()
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// What [`Config::validate`] parsed: the values the server runs with.
#[derive(Debug, Clone)]
pub struct Validated {
    pub listen: SocketAddr,
    /// `None`: `admin.listen: off`.
    pub admin: Option<SocketAddr>,
    pub upstream: UpstreamSettings,
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// More worker threads than this is a typo, not a machine.
const MAX_WORKERS: usize = 1024;

impl Config {
    /// The number of worker threads to run: `workers`, or one per usable CPU.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// A configuration for the quick start: `veil serve --upstream URL`.
    pub fn quick(upstream: &str) -> Config {
        Config {
            listen: default_listen(),
            tls: None,
            workers: 0,
            upstream: UpstreamConfig {
                url: upstream.to_owned(),
                ca: None,
                preserve_host: false,
                connect_timeout: default_connect_timeout(),
                response_timeout: default_response_timeout(),
            },
            rules: default_rules(),
            keys: None,
            admin: AdminConfig::default(),
            limits: LimitsConfig::default(),
            roles: RolesConfig::default(),
            quotas: QuotasConfig::default(),
            log: LogConfig::default(),
            audit: AuditConfig::default(),
            reveal: RevealConfig::default(),
        }
    }

    /// Reads and validates a config file. Relative paths are taken from the file's folder.
    pub fn load(path: &Path) -> Result<Config, Diagnostics> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Diagnostics(vec![Diagnostic {
                severity: Severity::Error,
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }])
        })?;
        let src = Source {
            path: path.to_path_buf(),
            text,
        };
        let mut cfg: Config = serde_yaml_ng::from_str(&src.text).map_err(|e| {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            Diagnostics(vec![Diagnostic {
                severity: Severity::Error,
                file: path.to_path_buf(),
                line,
                column,
                message: msg,
            }])
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.rebase(base);
        cfg.validate(Some(&src))?;
        Ok(cfg)
    }

    fn rebase(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && p.as_os_str() != crate::rules::embedded::EMBEDDED {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.rules);
        if let Some(k) = &mut self.keys {
            fix(k);
        }
        if let Some(t) = &mut self.tls {
            fix(&mut t.cert);
            fix(&mut t.key);
        }
        if let Some(ca) = &mut self.upstream.ca {
            fix(ca);
        }
        for r in &mut self.roles.resolvers {
            if let ResolverConfig::Jwt(JwtConfig { key: Some(k), .. }) = r {
                fix(k);
            }
        }
    }

    /// Checks what serde cannot (addresses, URLs, files, values) and returns them parsed:
    /// what the server runs with, so nothing downstream parses a string of this file again.
    pub fn validate(&self, src: Option<&Source>) -> Result<Validated, Diagnostics> {
        let mut diags = Vec::new();
        let mut err = |needle: &str, msg: String| {
            let (line, column) = src.map_or((0, 0), |s| s.locate(needle, None));
            diags.push(Diagnostic {
                severity: Severity::Error,
                file: src.map(|s| s.path.clone()).unwrap_or_default(),
                line,
                column,
                message: msg,
            });
        };
        let listen = self.listen.parse::<SocketAddr>();
        if listen.is_err() {
            err(
                &self.listen,
                format!("listen: {:?} is not an address (host:port)", self.listen),
            );
        }
        let admin = match self.admin.listen.as_str() {
            "off" => Ok(None),
            a => a.parse::<SocketAddr>().map(Some),
        };
        if admin.is_err() {
            err(
                &self.admin.listen,
                format!(
                    "admin.listen: {:?} is not an address (host:port) or off",
                    self.admin.listen
                ),
            );
        }
        if self.workers > MAX_WORKERS {
            err(
                "workers",
                format!(
                    "workers: {} is more than {MAX_WORKERS} (0 means one per CPU)",
                    self.workers
                ),
            );
        }
        let upstream = self.upstream_settings();
        if let Err(e) = &upstream {
            err(&self.upstream.url, format!("upstream.url: {e}"));
        }
        let mut must_exist = |p: &Path, what: &str, needle: &str| {
            if !p.exists() {
                err(needle, format!("{what}: {} does not exist", p.display()));
            }
        };
        if self.rules.as_os_str() != crate::rules::embedded::EMBEDDED {
            must_exist(&self.rules, "rules", "rules");
        }
        if let Some(k) = &self.keys {
            must_exist(k, "keys", "keys");
        }
        if let Some(t) = &self.tls {
            must_exist(&t.cert, "tls.cert", "cert");
            must_exist(&t.key, "tls.key", "key");
        }
        if let Some(ca) = &self.upstream.ca {
            must_exist(ca, "upstream.ca", "ca");
        }
        for r in &self.roles.resolvers {
            if let ResolverConfig::TrustedHeader {
                header,
                user_header,
                ..
            } = r
            {
                for h in std::iter::once(header).chain(user_header) {
                    if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                        err(h, format!("roles: {h:?} is not a header name"));
                    }
                }
            }
        }
        let log_format = match self.log.format.as_str() {
            "pretty" => Some(LogFormat::Pretty),
            "json" => Some(LogFormat::Json),
            other => {
                err(
                    other,
                    format!("log.format: {other:?} is not pretty or json"),
                );
                None
            }
        };
        match (listen, admin, upstream, log_format) {
            (Ok(listen), Ok(admin), Ok(upstream), Some(log_format)) if diags.is_empty() => {
                Ok(Validated {
                    listen,
                    admin,
                    upstream,
                    log_format,
                })
            }
            _ => Err(Diagnostics(diags)),
        }
    }

    /// The upstream, parsed: what the client is built from.
    pub fn upstream_settings(&self) -> Result<UpstreamSettings, String> {
        let url: http::Uri = self
            .upstream
            .url
            .parse()
            .map_err(|e| format!("{:?} is not a URL: {e}", self.upstream.url))?;
        let https = match url.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(format!(
                    "{:?}: the scheme must be http or https",
                    self.upstream.url
                ))
            }
        };
        let host = url.host().ok_or("no host")?.to_owned();
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        if url.path() != "/" && !url.path().is_empty() {
            return Err("a path prefix is not supported".into());
        }
        Ok(UpstreamSettings {
            https,
            authority: format!("{host}:{port}"),
            host,
            ca: self.upstream.ca.clone(),
            connect_timeout: self.upstream.connect_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, Diagnostics> {
        let dir = std::env::temp_dir().join(format!("veil-cfg-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        let path = dir.join(format!("veil-{}.yaml", text.len()));
        std::fs::write(&path, text).unwrap();
        Config::load(&path)
    }

    #[test]
    fn errors_carry_line_and_reason() {
        let e = load("upstream:\n  url: http://127.0.0.1:3000\nlistn: 1\n").unwrap_err();
        assert_eq!(e.0[0].line, 3, "{e}");
        assert!(e.0[0].message.contains("unknown field"), "{e}");
        let e = load("listen: nowhere\nupstream:\n  url: ftp://x\n").unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
        assert_eq!(e.0[0].line, 1);
        assert!(e.0[1].message.contains("scheme"), "{e}");
        assert_eq!(e.0[1].line, 3);
        let e = load("upstream:\n  url: http://127.0.0.1:3000\nkeys: missing.txt\n").unwrap_err();
        assert!(e.0[0].message.contains("does not exist"), "{e}");
        assert_eq!(e.0[0].line, 3);
    }

    #[test]
    fn a_good_config_loads_with_defaults() {
        let c = load("upstream:\n  url: http://127.0.0.1:3000\n  response_timeout: 2s\n").unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.upstream.response_timeout, Duration::from_secs(2));
        assert_eq!(c.upstream_settings().unwrap().authority, "127.0.0.1:3000");
        assert_eq!(c.workers, 0);
        assert!(c.worker_count() >= 1);
    }

    #[test]
    fn workers_are_counted_or_one_per_cpu() {
        let c = load("workers: 3\nupstream:\n  url: http://127.0.0.1:3000\n").unwrap();
        assert_eq!(c.worker_count(), 3);
        let e = load("upstream:\n  url: http://127.0.0.1:3000\nworkers: 100000\n").unwrap_err();
        assert_eq!(e.0[0].line, 3, "{e}");
        assert!(e.0[0].message.contains("workers: 100000"), "{e}");
    }

    #[test]
    fn validate_hands_back_the_parsed_values_and_a_bad_peer_names_its_line() {
        let c = load("listen: 0.0.0.0:8081\nadmin:\n  listen: off\nupstream:\n  url: https://inbox.example:8443\n").unwrap();
        let v = c.validate(None).unwrap();
        assert_eq!(v.listen, "0.0.0.0:8081".parse().unwrap());
        assert_eq!(v.admin, None);
        assert!(v.upstream.https);
        assert_eq!(v.upstream.authority, "inbox.example:8443");
        assert_eq!(v.log_format, LogFormat::Pretty);
        let e = load("upstream:\n  url: http://127.0.0.1:3000\nroles:\n  resolvers:\n    - type: trusted_header\n      header: x-role\n      trusted_peers: [10.0.0.0/8, nowhere]\n").unwrap_err();
        // The resolver it belongs to (serde reads a tagged entry whole).
        assert_eq!(e.0[0].line, 5, "{e}");
        assert!(e.0[0].message.contains("not an address or CIDR"), "{e}");
    }
}
