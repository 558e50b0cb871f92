//! Every response veil writes on its own account (a refusal, an upstream failure, a body
//! it will not pass): one type, [`Refusal`], turned into status, JSON body, metric and log
//! line in one function ([`Refusal::respond`]), as pingora's `Error` carries its
//! `ErrorSource`. Sites say what happened; none picks a status or a label of its own.
//!
//! Audit events and the quota metrics stay at their sites: they name the caller, the role
//! and the route, which a refusal does not carry.
use super::{full, ProxyBody};
use crate::metrics::Metrics;
use http::{header, HeaderValue, Response, StatusCode};
use std::borrow::Cow;
use std::time::Duration;

/// Whose fault a refusal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The request: its path, body, role or rate (4xx).
    Client,
    /// The upstream: it did not answer, or answered what veil cannot mask (5xx).
    Upstream,
    /// veil itself: a dependency it needs is down (503).
    Internal,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Upstream => "upstream",
            Side::Internal => "internal",
        }
    }
}

/// What veil answers instead of the upstream.
#[derive(Debug)]
pub enum Refusal {
    /// The path does not have one normal form (see `path.rs`).
    BadPath(String),
    /// The request target does not make an upstream URI.
    BadTarget,
    /// The request body could not be read.
    BadRequestBody,
    /// The request body is over the limit.
    RequestTooLarge,
    /// The reveal endpoint got something else than `{"token": "vt_…"}`.
    BadRevealRequest { too_large: bool },
    /// Not a token of this key ring.
    InvalidToken,
    /// The role may not reveal this kind.
    RevealNotAllowed,
    /// The route lists roles and this is not one (`role_not_allowed`).
    RoleNotAllowed,
    /// A CSV export for a role without exports (`export_refused`).
    ExportRefused,
    /// An upgrade to something else than WebSocket on a masked route.
    UnsupportedUpgrade,
    /// Over a per-caller quota.
    QuotaOver { retry_after: Duration },
    /// The shared quota store cannot be reached: refused until it can.
    QuotaUnavailable { retry_after: Duration },
    /// Over the collection budget.
    CollectionLimit { retry_after: Duration },
    /// The upstream did not answer (connect or request error).
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The upstream refused the WebSocket upgrade with this status.
    UpgradeRefused(StatusCode),
    /// The upstream negotiated a WebSocket extension veil cannot read.
    WebSocketExtension,
    /// A response veil cannot mask for this role: `reason` is the `veil_blocked_total`
    /// label (`unknown_encoding`, `partial_content`, …).
    Unmaskable {
        reason: &'static str,
        message: &'static str,
    },
}

impl Refusal {
    pub fn side(&self) -> Side {
        use Refusal::*;
        match self {
            BadPath(_)
            | BadTarget
            | BadRequestBody
            | RequestTooLarge
            | BadRevealRequest { .. }
            | InvalidToken
            | RevealNotAllowed
            | RoleNotAllowed
            | ExportRefused
            | UnsupportedUpgrade
            | QuotaOver { .. }
            | CollectionLimit { .. } => Side::Client,
            UpstreamUnavailable
            | UpstreamTimeout
            | UpgradeRefused(_)
            | WebSocketExtension
            | Unmaskable { .. } => Side::Upstream,
            QuotaUnavailable { .. } => Side::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        use Refusal::*;
        match self {
            BadPath(_) | BadTarget | BadRequestBody | InvalidToken => StatusCode::BAD_REQUEST,
            BadRevealRequest { too_large: true } | RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BadRevealRequest { too_large: false } => StatusCode::BAD_REQUEST,
            RevealNotAllowed | RoleNotAllowed | ExportRefused => StatusCode::FORBIDDEN,
            UnsupportedUpgrade => StatusCode::NOT_IMPLEMENTED,
            QuotaOver { .. } | CollectionLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
            QuotaUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            UpstreamUnavailable | WebSocketExtension | Unmaskable { .. } => StatusCode::BAD_GATEWAY,
            UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            UpgradeRefused(status) => *status,
        }
    }

    /// The `error` field of the JSON body: stable, for clients to match on.
    pub fn code(&self) -> &'static str {
        use Refusal::*;
        match self {
            BadPath(_) => "bad_path",
            BadTarget | BadRevealRequest { .. } => "bad_request",
            BadRequestBody => "bad_request_body",
            RequestTooLarge => "request_too_large",
            InvalidToken => "invalid_token",
            RevealNotAllowed => "not_allowed",
            RoleNotAllowed => "role_not_allowed",
            ExportRefused => "export_refused",
            UnsupportedUpgrade => "unsupported_upgrade",
            QuotaOver { .. } => "quota_exceeded",
            QuotaUnavailable { .. } => "quota_unavailable",
            CollectionLimit { .. } => "collection_limit",
            UpstreamUnavailable => "upstream_unavailable",
            UpstreamTimeout => "upstream_timeout",
            UpgradeRefused(_) => "upgrade_refused",
            WebSocketExtension => "websocket_extension",
            Unmaskable { reason, .. } => reason,
        }
    }

    fn message(&self) -> Cow<'static, str> {
        use Refusal::*;
        Cow::Borrowed(match self {
            BadPath(why) => return Cow::Owned(format!("veil: the request path is refused: {why}")),
            BadTarget => "veil: invalid request target",
            BadRequestBody => "veil: the request body could not be read",
            RequestTooLarge => "veil: the request body is over the limit",
            BadRevealRequest { .. } => "veil: send {\"token\": \"vt_…\"}",
            InvalidToken => "veil: not a valid token",
            RevealNotAllowed => "veil: this role may not reveal this kind",
            RoleNotAllowed => "veil: this role may not use this route",
            ExportRefused => "veil: this role may not download exports",
            UnsupportedUpgrade => "veil: only WebSocket upgrades can be masked",
            QuotaOver { .. } => "veil: over this role's quota; try again later",
            QuotaUnavailable { .. } => {
                "veil: the quota store cannot be reached; refused until it can"
            }
            CollectionLimit { .. } => {
                "veil: this caller has seen its budget of contacts for now; try again later"
            }
            UpstreamUnavailable => "veil: the upstream did not answer",
            UpstreamTimeout => "veil: the upstream did not answer in time",
            UpgradeRefused(_) => "veil: the upstream refused the WebSocket upgrade",
            WebSocketExtension => {
                "veil: the upstream negotiated a WebSocket extension veil cannot read"
            }
            Unmaskable { message, .. } => message,
        })
    }

    /// The `veil_blocked_total` label, for refusals that keep data from a caller.
    fn blocked(&self) -> Option<&'static str> {
        use Refusal::*;
        match self {
            BadPath(_)
            | RoleNotAllowed
            | ExportRefused
            | UnsupportedUpgrade
            | WebSocketExtension
            | Unmaskable { .. } => Some(self.code()),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Refusal::QuotaOver { retry_after }
            | Refusal::QuotaUnavailable { retry_after }
            | Refusal::CollectionLimit { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The response, its metric and its log line.
    pub fn respond(self, metrics: &Metrics) -> Response<ProxyBody> {
        let (status, code, side) = (self.status(), self.code(), self.side());
        if let Some(reason) = self.blocked() {
            metrics.blocked.with_label_values(&[reason]).inc();
        }
        // A client's refusal is in the request's own log line (its status); what the
        // upstream or veil caused gets a warning of its own.
        if side != Side::Client {
            tracing::warn!(
                code,
                side = side.label(),
                status = status.as_u16(),
                "refused"
            );
        }
        let retry_after = self.retry_after();
        let mut resp = error_response(status, code, &self.message());
        if let Some(after) = retry_after {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(after.as_secs().max(1)),
            );
        }
        resp
    }
}

impl From<crate::upstream::Failure> for Refusal {
    fn from(f: crate::upstream::Failure) -> Refusal {
        match f {
            crate::upstream::Failure::Unavailable => Refusal::UpstreamUnavailable,
            crate::upstream::Failure::Timeout => Refusal::UpstreamTimeout,
        }
    }
}

/// A short JSON error response.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(full(body))
        .expect("a valid response")
}
