//! The request lifecycle, named after its phases:
//!
//! ```text
//! downstream request ─► resolve role ─► route ─► rewrite request (detokenize, headers)
//!   ─► upstream ─► classify response (status, Content-Encoding, Content-Type)
//!   ─► headers ─► body: decode → mask → encode (body.rs) ─► downstream
//! ```
//!
//! What cannot be masked for a masked role is refused, never passed: an unknown content
//! coding, a content type with no masker on a `block` route, a partial (206) response, an
//! upgrade other than WebSocket. Upstream failures become 502, slow upstreams 504, with a
//! short JSON body.
pub mod body;
pub mod codec;
pub mod detokenize;
pub mod error;
pub mod headers;
pub mod path;
pub mod quota;
pub mod request_body;
pub mod reveal;
pub mod shared;
pub mod tally;
pub mod websocket;

use crate::engine::format::sniff::{Label, SniffMasker};
use crate::engine::format::text::ValueMasker;
use crate::engine::format::Format;
use crate::engine::token::KeyRing;
use crate::metrics::Metrics;
use crate::roles::{Resolution, RoleResolver};
use crate::rules::request::{Collection, OverBudget};
use crate::rules::{OnUnknown, RouteId, RuleSet};
use arc_swap::ArcSwap;
use body::{MaskedBody, Outcome};
use bytes::Bytes;
use codec::{Coding, Decoder, Encoder};
use detokenize::Detokenizer;
pub use error::error_response;
use error::Refusal;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use quota::{Rate, Verdict};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every body veil sends downstream.
pub use crate::bodies::{full, BoxError, ProxyBody};

/// Settings of the request path that do not change on reload.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub preserve_host: bool,
    pub response_timeout: Duration,
    pub max_request_body: usize,
    pub websocket_max_message: usize,
    pub reveal_path: String,
    pub reveal_per_minute: u32,
    /// Longest wait for the next piece of an upstream response body.
    pub body_idle_timeout: Duration,
    /// Longest wait for the next piece of a client's request body.
    pub request_body_idle_timeout: Duration,
}

/// The shared state of a running proxy.
pub struct Proxy {
    pub rules: ArcSwap<RuleSet>,
    pub keys: ArcSwap<KeyRing>,
    pub upstream: crate::upstream::Upstream,
    pub settings: ProxySettings,
    pub resolver: RoleResolver,
    pub metrics: Metrics,
    /// The upstream has answered at least once (`/readyz`).
    pub upstream_seen: AtomicBool,
    pub audit: Arc<crate::audit::Audit>,
    /// Per-principal budgets: reveals, detokenizations, contacts seen.
    pub quotas: Arc<quota::Quotas>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("upstream", &self.upstream)
            .finish()
    }
}

/// Puts the request target's path in its one normal form ([`path::normalize`]), so that
/// the route veil picks is the route the upstream serves; the query is kept as sent.
fn normalize_target(uri: &mut http::Uri) -> Result<(), path::PathError> {
    if !uri.path().starts_with('/') {
        // `OPTIONS *`, authority form: no path to route by.
        return Ok(());
    }
    let normal = match path::normalize(uri.path())? {
        std::borrow::Cow::Borrowed(_) => return Ok(()),
        std::borrow::Cow::Owned(n) => n,
    };
    let pq = match uri.query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().map_err(|_| path::PathError::BadEscape)?);
    *uri = http::Uri::from_parts(parts).map_err(|_| path::PathError::BadEscape)?;
    Ok(())
}

/// The window of the collection budgets (`per_hour`).
const COLLECTION_WINDOW: Duration = Duration::from_secs(3600);

/// Until the current collection window ends.
fn until_next_window() -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let w = COLLECTION_WINDOW.as_secs();
    Duration::from_secs(w - now % w)
}

/// Marks a response whose body is masked as it streams (it logs when it ends).
#[derive(Debug, Clone, Copy)]
struct MaskedStream;

/// Where a request came from.
#[derive(Debug, Clone, Copy)]
pub struct Downstream {
    pub peer: SocketAddr,
    pub https: bool,
}

impl Proxy {
    /// Handles one downstream request.
    pub async fn handle(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        from: Downstream,
    ) -> Response<ProxyBody> {
        let started = Instant::now();
        if let Err(e) = normalize_target(req.uri_mut()) {
            return Refusal::BadPath(e.to_string()).respond(&self.metrics);
        }
        let rules = self.rules.load_full();
        let keys = self.keys.load_full();
        let who = self
            .resolver
            .resolve(
                &rules,
                from.peer.ip(),
                req.headers_mut(),
                &self.metrics,
                &self.upstream,
                &self.audit,
            )
            .await;
        let (role, by) = (who.role, who.by);
        if who.spoofed {
            tracing::warn!(peer = %from.peer.ip(), "role header from an untrusted peer removed");
        }
        if req.method() == Method::POST && req.uri().path() == self.settings.reveal_path {
            return reveal::handle(&self, req, from, &who).await;
        }
        let websocket = websocket::is_upgrade(&req);
        let path = req.uri().path().to_owned();
        // The route is matched once per request; the legs below look it up by id.
        let route_id = rules.route_id_for(req.method().as_str(), &path, websocket);
        let route = rules.route(route_id);
        let policy = rules.role_policy(role).clone();
        let masked = !route.passthrough && !policy.is_all_clear();
        // A role that sees everything in the clear is still scanned when auditing, so the
        // audit log can say which protected kinds it was served.
        let audit_clear = !masked && !route.passthrough && self.audit.enabled();
        let route_name = route.name.clone();
        let role_name = policy.name.clone();
        let method = req.method().clone();
        let allowed = route.roles.as_ref().is_none_or(|r| r.contains(&role));

        let response = if !allowed {
            self.refuse(&who, &role_name, &route_name, Refusal::RoleNotAllowed)
        } else if websocket {
            let (rules, keys) = (rules.clone(), keys.clone());
            websocket::proxy(self.clone(), req, from, rules, route_id, keys, &who).await
        } else if req.headers().contains_key(header::UPGRADE) && masked {
            Refusal::UnsupportedUpgrade.respond(&self.metrics)
        } else {
            let route = (&rules, route_id);
            self.forward(req, from, route, &keys, &who, masked, audit_clear, started)
                .await
        };
        let status = response.status();
        self.metrics
            .requests
            .with_label_values(&[&route_name, &role_name, status.as_str()])
            .inc();
        // A masked stream logs its line when its body ends (bytes, matches, duration).
        if response.extensions().get::<MaskedStream>().is_none() {
            tracing::info!(route = %route_name, role = %role_name, %method, status = status.as_u16(), resolver = by, ms = started.elapsed().as_millis() as u64, "request");
        }
        response
    }

    /// Turns tokens back where the route says, rewrites headers, sends upstream, masks the
    /// response.
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        req: Request<Incoming>,
        from: Downstream,
        (rules, route_id): (&Arc<RuleSet>, RouteId),
        keys: &Arc<KeyRing>,
        who: &Resolution,
        masked: bool,
        audit_clear: bool,
        started: Instant,
    ) -> Response<ProxyBody> {
        let role = who.role;
        let (mut parts, body) = req.into_parts();
        let route = rules.route(route_id);
        let mut turn = Detokenizer::new(
            keys,
            &rules.kinds,
            rules.role_grants(role),
            &route.detokenize,
        );
        let client_accepts = parts
            .headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        headers::strip_hop_by_hop(&mut parts.headers);
        let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let pq = turn.path_and_query(pq).into_owned();
        if let Err(e) = self.retarget(&mut parts, from, &pq) {
            return e.respond(&self.metrics);
        }
        if masked {
            headers::prepare_masked_request(&mut parts.headers);
        }
        let body = match request_body::request_body(
            body,
            &mut parts.headers,
            &mut turn,
            self.settings.max_request_body,
            self.settings.request_body_idle_timeout,
        )
        .await
        {
            Ok(b) => b,
            Err(refusal) => return refusal.respond(&self.metrics),
        };
        let policy_name = &rules.role_policy(role).name;
        let per_hour = rules.role_grants(role).detokenize_per_hour;
        if let Err(refused) = self
            .settle(&turn, who, policy_name, &route.name, per_hour)
            .await
        {
            return refused;
        }
        // A contact route, for a caller over its collection budget: refused, or served
        // with everything redacted.
        let budget = rules
            .role_grants(role)
            .collection
            .as_ref()
            .filter(|_| route.contacts && masked);
        let mut over_budget = false;
        if let Some(c) = budget {
            match self
                .quotas
                .contacts_seen(policy_name, &who.principal, COLLECTION_WINDOW)
                .await
            {
                Ok(seen) if seen <= c.per_hour => {}
                Ok(seen) => {
                    self.count_collection(who, policy_name, &route.name, seen, c);
                    match c.over {
                        OverBudget::Block => return self.refuse_collection(until_next_window()),
                        OverBudget::MaskAll => over_budget = true,
                    }
                }
                Err(_) => {
                    return self.refuse_quota(
                        "collection",
                        who,
                        policy_name,
                        &route.name,
                        Verdict::Unavailable,
                    );
                }
            }
        }
        let head_only = parts.method == Method::HEAD;
        let upstream_req = Request::from_parts(parts, body);
        let resp = match self
            .upstream
            .send(upstream_req, self.settings.response_timeout, &self.metrics)
            .await
        {
            Ok(r) => r,
            Err(failure) => return Refusal::from(failure).respond(&self.metrics),
        };
        self.upstream_seen.store(true, Ordering::Relaxed);
        let (mut parts, body) = resp.into_parts();
        headers::strip_hop_by_hop(&mut parts.headers);
        let no_body = head_only
            || parts.status == StatusCode::NO_CONTENT
            || parts.status == StatusCode::NOT_MODIFIED
            || parts.status.is_informational();
        if !masked && !audit_clear {
            let duration = self
                .metrics
                .request_duration
                .with_label_values(&[&route.name]);
            duration.observe(started.elapsed().as_secs_f64());
            return Response::from_parts(
                parts,
                body::IdleLimit::new(body, self.settings.body_idle_timeout)
                    .map_err(|e| Box::new(e) as BoxError)
                    .boxed_unsync(),
            );
        }
        let mut plan = rules.plan(route, role, keys);
        if let Some(c) = budget.filter(|_| over_budget) {
            plan = plan.with_role(c.mask_all.clone());
        }
        // An all-clear role is scanned (not changed) when auditing, to count what it was served.
        let plan = plan.with_audit_clear(audit_clear);
        let mut values = ValueMasker::new(plan.clone());
        headers::mask_response_headers(&mut parts.headers, &mut values);
        if no_body {
            // HEAD, 204, 304: the headers a masked body would get (the upstream's length is
            // not the masked one; no ETag of unmasked bytes), the coding left as announced.
            let coding = Coding::of_headers(&parts.headers)
                .filter(|c| *c != Coding::Identity)
                .map(Coding::name);
            headers::rewrite_masked_response(&mut parts.headers, coding);
            return Response::from_parts(parts, full(Bytes::new()));
        }
        if parts.status == StatusCode::PARTIAL_CONTENT {
            return self.block(
                "partial_content",
                "veil: a partial response cannot be masked",
            );
        }
        let coding = Coding::of_headers(&parts.headers);
        let Some(coding) = coding else {
            return self.block(
                "unknown_encoding",
                "veil: the upstream used a content coding veil cannot decode",
            );
        };
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // The label says what to expect; the first bytes say what it is (sniff.rs).
        let script = content_type.contains("javascript") || content_type.contains("ecmascript");
        let (format, label) = match (Format::from_content_type(content_type), route.on_unknown) {
            (Some(f), _) if !script => (f, Label::Known(f)),
            (Some(f), _) => (f, Label::Opaque),
            (None, OnUnknown::Scan) => (Format::Text, Label::Opaque),
            (None, OnUnknown::Block) => {
                return self.block(
                    "unknown_content_type",
                    "veil: this content type has no masker and the route blocks it",
                );
            }
        };
        // An attachment named `.csv` is an export whatever its label (`text/plain`,
        // `octet-stream`): its column rules apply, and a role without exports is refused it.
        let (format, label) = if format == Format::Text && headers::csv_attachment(&parts.headers) {
            (Format::Csv, Label::Known(Format::Csv))
        } else {
            (format, label)
        };
        // Re-encode as the upstream did when the client takes it; otherwise send identity.
        let out_coding = if coding.accepted_by(&client_accepts) {
            coding
        } else {
            Coding::Identity
        };
        let (decoder, encoder) = match (Decoder::new(coding), Encoder::new(out_coding)) {
            (Ok(d), Ok(e)) => (d, e),
            _ => return self.block("bad_encoding", "veil: cannot set up the content coding"),
        };
        headers::rewrite_masked_response(
            &mut parts.headers,
            (out_coding != Coding::Identity).then(|| out_coding.name()),
        );
        if format == Format::Csv && masked && !rules.role_grants(role).exports {
            return self.refuse(
                who,
                &rules.role_policy(role).name,
                &route.name,
                Refusal::ExportRefused,
            );
        }
        let masker: Box<dyn crate::engine::Masker + Send> =
            Box::new(SniffMasker::new(plan.clone(), label));
        let metrics = self.metrics.clone();
        let kinds = plan.kinds().clone();
        let policy = plan.role().clone();
        let route_name = route.name.clone();
        let role_name = policy.name.clone();
        let status = parts.status.as_u16();
        let audit = self.audit.clone();
        let on_end = Box::new(move |o: Outcome| {
            let f = format.name();
            if audit.enabled() && o.counts.clear.iter().any(|n| *n > 0) {
                let kinds = o
                    .counts
                    .clear
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(i, n)| (kinds.name(crate::engine::vocab::kind::KindId(i as u16)), *n))
                    .collect();
                audit.log(&crate::audit::Event::ClearServed {
                    role: &role_name,
                    route: &route_name,
                    kinds,
                });
            }
            metrics
                .body_bytes
                .with_label_values(&["in", f])
                .inc_by(o.bytes_in);
            metrics
                .body_bytes
                .with_label_values(&["out", f])
                .inc_by(o.bytes_out);
            metrics
                .masking_duration
                .with_label_values(&[f])
                .observe(o.masking.as_secs_f64());
            metrics
                .request_duration
                .with_label_values(&[&route_name])
                .observe(started.elapsed().as_secs_f64());
            for (i, n) in o.counts.masked.iter().enumerate().filter(|(_, n)| **n > 0) {
                let kind = crate::engine::vocab::kind::KindId(i as u16);
                metrics
                    .matches
                    .with_label_values(&[kinds.name(kind), policy.action(kind).label()])
                    .inc_by(*n as u64);
            }
            for (i, n) in o.counts.clear.iter().enumerate().filter(|(_, n)| **n > 0) {
                let kind = crate::engine::vocab::kind::KindId(i as u16);
                metrics
                    .matches
                    .with_label_values(&[kinds.name(kind), "clear"])
                    .inc_by(*n as u64);
            }
            if let Some(reason) = o.aborted {
                metrics.blocked.with_label_values(&[reason]).inc();
                tracing::warn!(route = %route_name, role = %role_name, status, reason, bytes_in = o.bytes_in, bytes_out = o.bytes_out, "masked response aborted");
            } else {
                tracing::info!(route = %route_name, role = %role_name, status, format = f, bytes_in = o.bytes_in, bytes_out = o.bytes_out, matches = o.counts.total_masked(), ms = started.elapsed().as_millis() as u64, "request");
            }
        });
        let on_end: Box<dyn FnOnce(Outcome) + Send> = match budget {
            Some(c) => {
                let quotas = self.quotas.clone();
                let who = who.clone();
                let role = rules.role_policy(role).name.clone();
                let route = route.name.clone();
                let metrics = self.metrics.clone();
                let audit = self.audit.clone();
                let per_hour = c.per_hour;
                Box::new(move |mut o: Outcome| {
                    let ids = std::mem::take(&mut o.contacts);
                    on_end(o);
                    if ids.is_empty() {
                        return;
                    }
                    tokio::spawn(async move {
                        let added = quotas
                            .add_contacts(&role, &who.principal, &ids, per_hour, COLLECTION_WINDOW)
                            .await;
                        metrics
                            .contacts_seen
                            .with_label_values(&[&role])
                            .inc_by(ids.len() as u64);
                        if let Ok((before, after)) = added {
                            if before <= per_hour && after > per_hour {
                                audit.log(&crate::audit::Event::CollectionExceeded {
                                    principal: who.principal.as_str(),
                                    role: &role,
                                    route: &route,
                                    seen: after,
                                    budget: per_hour,
                                });
                                tracing::warn!(role = %role, route = %route, budget = per_hour, "a caller went over its collection budget");
                            }
                        }
                    });
                })
            }
            None => on_end,
        };
        let mut body = MaskedBody::new(
            body,
            self.settings.body_idle_timeout,
            decoder,
            masker,
            encoder,
            on_end,
        );
        if let Some(c) = budget {
            body = body.with_tally(tally::ContactTally::new(
                &c.prefixes,
                c.per_hour as usize + 1,
            ));
        }
        Response::from_parts(
            parts,
            body.map_err(|e| Box::new(e) as BoxError).boxed_unsync(),
        )
    }

    /// Points a downstream request at the upstream: the path and query `pq` (tokens turned
    /// back where the route says), `X-Forwarded-*` added, HTTP/1.1 (the upstream leg speaks
    /// it whatever the client spoke), `Host` rewritten unless configured to keep it.
    pub(crate) fn retarget(
        &self,
        parts: &mut http::request::Parts,
        from: Downstream,
        pq: &str,
    ) -> Result<(), Refusal> {
        let host = parts.headers.get(header::HOST).cloned();
        headers::add_forwarded(
            &mut parts.headers,
            from.peer.ip(),
            from.https,
            host.as_ref(),
        );
        parts.uri = self.upstream.uri(pq).map_err(|_| Refusal::BadTarget)?;
        parts.version = http::Version::HTTP_11;
        if !self.settings.preserve_host {
            if let Ok(v) = HeaderValue::from_str(&self.upstream.authority) {
                parts.headers.insert(header::HOST, v);
            }
        }
        Ok(())
    }

    fn block(&self, reason: &'static str, message: &'static str) -> Response<ProxyBody> {
        Refusal::Unmaskable { reason, message }.respond(&self.metrics)
    }

    /// Accounts for the tokens a request met at its places: one audit event and one count
    /// each, then the role's quota for those turned back. `Err` is the 429 to send instead
    /// of the request (nothing went upstream).
    pub(crate) async fn settle(
        &self,
        turn: &Detokenizer<'_>,
        who: &Resolution,
        role: &str,
        route: &str,
        per_hour: Option<u32>,
    ) -> Result<(), Response<ProxyBody>> {
        for t in &turn.turned {
            self.audit.log(&crate::audit::Event::Detokenize {
                principal: who.principal.as_str(),
                role,
                route,
                place: &t.place,
                kind: &t.kind,
                key_id: &t.key_id,
                result: t.result.label(),
            });
            self.metrics
                .detokenized
                .with_label_values(&[route, &t.place, t.result.label()])
                .inc();
        }
        let ok = turn.ok_count();
        let Some(per_hour) = per_hour.filter(|_| ok > 0) else {
            return Ok(());
        };
        let verdict = self
            .quotas
            .take(
                "detokenize",
                role,
                &who.principal,
                ok,
                Rate::per_hour(per_hour),
            )
            .await;
        if verdict == Verdict::Allow {
            return Ok(());
        }
        Err(self.refuse_quota("detokenize", who, role, route, verdict))
    }

    /// A route the role may not use, or a CSV export for a role that may not download
    /// exports: audited, then answered.
    fn refuse(
        &self,
        who: &Resolution,
        role: &str,
        route: &str,
        refusal: Refusal,
    ) -> Response<ProxyBody> {
        self.audit.log(&crate::audit::Event::Refused {
            principal: who.principal.as_str(),
            role,
            route,
            reason: refusal.code(),
        });
        refusal.respond(&self.metrics)
    }

    /// Counts and audits a request from a caller over its collection budget.
    fn count_collection(
        &self,
        who: &Resolution,
        role: &str,
        route: &str,
        seen: u32,
        c: &Collection,
    ) {
        let action = match c.over {
            OverBudget::Block => "block",
            OverBudget::MaskAll => "mask_all",
        };
        self.metrics
            .collection_over
            .with_label_values(&[role, action])
            .inc();
        self.audit.log(&crate::audit::Event::CollectionOver {
            principal: who.principal.as_str(),
            role,
            route,
            seen,
            budget: c.per_hour,
            action,
        });
    }

    /// A caller over its collection budget: 429 until the window ends.
    fn refuse_collection(&self, retry_after: Duration) -> Response<ProxyBody> {
        Refusal::CollectionLimit { retry_after }.respond(&self.metrics)
    }

    /// The 429 (or 503 when the shared store is down) of a refused quota, audited.
    pub(crate) fn refuse_quota(
        &self,
        scope: &'static str,
        who: &Resolution,
        role: &str,
        route: &str,
        verdict: Verdict,
    ) -> Response<ProxyBody> {
        let (reason, retry_after) = match verdict {
            Verdict::Over { retry_after } => ("over", retry_after),
            _ => ("unavailable", Duration::from_secs(5)),
        };
        self.audit.log(&crate::audit::Event::QuotaExceeded {
            principal: who.principal.as_str(),
            role,
            route,
            scope,
            reason,
        });
        self.metrics
            .quota_refusals
            .with_label_values(&[scope, reason])
            .inc();
        tracing::warn!(scope, reason, role, route, "quota refused a request");
        if reason == "over" {
            Refusal::QuotaOver { retry_after }
        } else {
            Refusal::QuotaUnavailable { retry_after }
        }
        .respond(&self.metrics)
    }
}
