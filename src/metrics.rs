//! Every metric veil exports, in one place (names are documented in the README).
//!
//! One [`Metrics`] per process, registered in its own prometheus `Registry` so that tests
//! can run several proxies side by side.
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// `veil_cache_{hits,misses,evictions}_total{cache}`: the engine's per-thread caches, read
/// from its process totals at each scrape (see `veil_engine::cache::stats`).
struct CacheCollector {
    descs: Vec<prometheus::core::Desc>,
}

const CACHE_METRICS: [(&str, &str); 3] = [
    (
        "veil_cache_hits_total",
        "Lookups a cache answered, by cache",
    ),
    (
        "veil_cache_misses_total",
        "Lookups a cache did not answer, by cache",
    ),
    (
        "veil_cache_evictions_total",
        "Entries dropped to make room (scopes: scopes forgotten), by cache",
    ),
];

impl CacheCollector {
    fn new() -> CacheCollector {
        let descs = CACHE_METRICS
            .iter()
            .map(|(name, help)| {
                prometheus::core::Desc::new(
                    name.to_string(),
                    help.to_string(),
                    vec!["cache".into()],
                    Default::default(),
                )
                .expect("valid metric")
            })
            .collect();
        CacheCollector { descs }
    }
}

impl prometheus::core::Collector for CacheCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let totals = crate::engine::cache::stats::totals();
        CACHE_METRICS
            .iter()
            .enumerate()
            .map(|(i, (name, help))| {
                let c =
                    IntCounterVec::new(Opts::new(*name, *help), &["cache"]).expect("valid metric");
                for (cache, counts) in &totals {
                    let n = [counts.hits, counts.misses, counts.evictions][i];
                    c.with_label_values(&[cache.name()]).inc_by(n);
                }
                prometheus::core::Collector::collect(&c).remove(0)
            })
            .collect()
    }
}

/// The metric handles.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// `veil_requests_total{route,role,status}`
    pub requests: IntCounterVec,
    /// `veil_request_duration_seconds{route}`: to the end of the response body.
    pub request_duration: HistogramVec,
    /// `veil_masking_duration_seconds{format}`: time spent inside maskers per response.
    pub masking_duration: HistogramVec,
    /// `veil_body_bytes_total{direction="in"|"out",format}`
    pub body_bytes: IntCounterVec,
    /// `veil_matches_total{kind,action}`: values found, by what the role did with them.
    pub matches: IntCounterVec,
    /// `veil_blocked_total{reason}`: responses refused or aborted to avoid a leak.
    pub blocked: IntCounterVec,
    /// `veil_upstream_errors_total{kind}`: connect, timeout, reset.
    pub upstream_errors: IntCounterVec,
    /// `veil_detokenized_total{route,place,result="ok"|"refused"|"invalid"}`: tokens met at
    /// the request places a route lists (`place` as the rule names it: `query:q`).
    pub detokenized: IntCounterVec,
    /// `veil_quota_refusals_total{scope,reason="over"|"unavailable"}`: requests refused by
    /// a per-caller quota.
    pub quota_refusals: IntCounterVec,
    /// `veil_quota_store_errors_total`: calls the shared quota store (Redis) did not answer
    /// in time; each refused what needed it.
    pub quota_store_errors: IntCounter,
    /// `veil_contacts_seen_total{role}`: contacts shown on contact routes to callers with a
    /// collection budget (distinct per response).
    pub contacts_seen: IntCounterVec,
    /// `veil_collection_over_total{role,action="block"|"mask_all"}`: requests from callers
    /// over their collection budget.
    pub collection_over: IntCounterVec,
    /// `veil_role_resolutions_total{resolver,result}`
    pub role_resolutions: IntCounterVec,
    /// `veil_rule_reloads_total{result="ok"|"error"}`
    pub rule_reloads: IntCounterVec,
    /// `veil_rules_info{version}`: 1 for the active rule set.
    pub rules_info: IntGaugeVec,
    /// `veil_websocket_messages_total{direction,result}`
    pub websocket_messages: IntCounterVec,
    /// `veil_reveals_total{kind,result}`
    pub reveals: IntCounterVec,
    /// `veil_connections_total{worker}`: downstream connections accepted.
    pub connections: IntCounterVec,
    /// `veil_connections_open{worker}`: downstream connections open now.
    pub connections_open: IntGaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    reg.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    reg.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn histogram(
    reg: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric");
    reg.register(Box::new(h.clone())).expect("unique metric");
    h
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        let latency = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        Metrics {
            requests: counter(
                &r,
                "veil_requests_total",
                "Requests by route, role and status",
                &["route", "role", "status"],
            ),
            request_duration: histogram(
                &r,
                "veil_request_duration_seconds",
                "Request duration to the end of the response body",
                &["route"],
                latency.clone(),
            ),
            masking_duration: histogram(
                &r,
                "veil_masking_duration_seconds",
                "Time spent in maskers per response",
                &["format"],
                latency,
            ),
            body_bytes: counter(
                &r,
                "veil_body_bytes_total",
                "Response body bytes into and out of the maskers",
                &["direction", "format"],
            ),
            matches: counter(
                &r,
                "veil_matches_total",
                "PII values found, by kind and the action applied",
                &["kind", "action"],
            ),
            blocked: counter(
                &r,
                "veil_blocked_total",
                "Responses refused or aborted to avoid a leak, by reason",
                &["reason"],
            ),
            upstream_errors: counter(
                &r,
                "veil_upstream_errors_total",
                "Upstream failures",
                &["kind"],
            ),
            detokenized: counter(
                &r,
                "veil_detokenized_total",
                "Tokens met at request places a route lists, by result",
                &["route", "place", "result"],
            ),
            quota_refusals: counter(
                &r,
                "veil_quota_refusals_total",
                "Requests refused by a per-caller quota",
                &["scope", "reason"],
            ),
            quota_store_errors: {
                let c = IntCounter::new(
                    "veil_quota_store_errors_total",
                    "Calls the shared quota store (Redis) did not answer in time",
                )
                .expect("valid metric");
                r.register(Box::new(c.clone())).expect("unique metric");
                c
            },
            contacts_seen: counter(
                &r,
                "veil_contacts_seen_total",
                "Contacts shown on contact routes to callers with a collection budget",
                &["role"],
            ),
            collection_over: counter(
                &r,
                "veil_collection_over_total",
                "Requests from callers over their collection budget",
                &["role", "action"],
            ),
            role_resolutions: counter(
                &r,
                "veil_role_resolutions_total",
                "Role resolution results by resolver",
                &["resolver", "result"],
            ),
            rule_reloads: counter(
                &r,
                "veil_rule_reloads_total",
                "Rule reloads by result",
                &["result"],
            ),
            websocket_messages: counter(
                &r,
                "veil_websocket_messages_total",
                "WebSocket messages relayed",
                &["direction", "result"],
            ),
            reveals: counter(
                &r,
                "veil_reveals_total",
                "Token reveals by kind and result",
                &["kind", "result"],
            ),
            connections: counter(
                &r,
                "veil_connections_total",
                "Downstream connections accepted, by worker thread",
                &["worker"],
            ),
            connections_open: gauge(
                &r,
                "veil_connections_open",
                "Downstream connections open, by worker thread",
                &["worker"],
            ),
            rules_info: gauge(
                &r,
                "veil_rules_info",
                "The active rule set (value 1)",
                &["version"],
            ),
            registry: {
                r.register(Box::new(CacheCollector::new()))
                    .expect("unique metric");
                r
            },
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }

    /// Marks `version` as the active rule set.
    pub fn set_rules_version(&self, version: &str) {
        self.rules_info.reset();
        self.rules_info.with_label_values(&[version]).set(1);
    }
}
