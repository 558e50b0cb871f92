//! The upstream client: pooled HTTP/1.1 (plain or rustls), shared by the proxy and the
//! role probe (which both import it; it imports neither).
//!
//! One connection pool per worker thread (see `server::workers`): a pooled connection is
//! driven by a task on the thread that opened it, so a request that borrowed it from
//! another worker's pool would wake that thread for every read and write. Each worker
//! thread marks itself with [`use_pool_of_worker`]; other threads use the first pool.
use crate::bodies::{full, ProxyBody};
use crate::metrics::Metrics;
use bytes::Bytes;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::cell::Cell;
use std::time::Duration;

/// Upstream read buffer per connection.
const UPSTREAM_READ_BUFFER: usize = 64 * 1024;

thread_local! {
    /// The worker this thread runs, which picks its upstream pool.
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Makes this thread use the pool of worker `index` (called once by each worker thread).
pub fn use_pool_of_worker(index: usize) {
    WORKER.with(|w| w.set(index));
}

type PooledClient = Client<HttpsConnector<HttpConnector>, ProxyBody>;

/// The upstream inbox server.
pub struct Upstream {
    /// One pool per worker thread.
    pools: Box<[PooledClient]>,
    pub https: bool,
    pub authority: String,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.authority
        )
    }
}

/// The upstream, as the client needs it (parsed from `upstream:` by the config).
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub https: bool,
    /// `host:port`.
    pub authority: String,
    pub host: String,
    /// A PEM CA bundle to trust instead of the system roots.
    pub ca: Option<std::path::PathBuf>,
    pub connect_timeout: Duration,
}

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Connect or request error.
    Unavailable,
    /// No response before the deadline.
    Timeout,
}

/// Why the upstream client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream CA {path}: {reason}")]
    Ca { path: String, reason: String },
}

impl Upstream {
    /// The upstream of `settings`, with `pools` connection pools (one per worker thread).
    pub fn new(settings: &UpstreamSettings, pools: usize) -> Result<Upstream, UpstreamError> {
        let UpstreamSettings {
            https,
            ref authority,
            ..
        } = *settings;
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(settings.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let builder = HttpsConnectorBuilder::new();
        let connector = match &settings.ca {
            Some(path) => {
                let tls = client_tls(path).map_err(|reason| UpstreamError::Ca {
                    path: path.display().to_string(),
                    reason,
                })?;
                builder.with_tls_config(tls)
            }
            None => builder.with_native_roots().map_err(|e| UpstreamError::Ca {
                path: "(system roots)".into(),
                reason: e.to_string(),
            })?,
        }
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(Duration::from_secs(60))
            // Bounds what one response holds while it is masked: read ahead at most this
            // much from the upstream (hyper's default lets a fast upstream fill ~400 KiB).
            .http1_max_buf_size(UPSTREAM_READ_BUFFER);
        let pools = (0..pools.max(1))
            .map(|_| builder.build(connector.clone()))
            .collect();
        Ok(Upstream {
            pools,
            https,
            authority: authority.clone(),
        })
    }

    /// The pool of the calling thread's worker.
    fn client(&self) -> &PooledClient {
        &self.pools[WORKER.with(Cell::get) % self.pools.len()]
    }

    /// The upstream URI for a downstream path and query.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(if self.https { "https" } else { "http" })
            .authority(self.authority.as_str())
            .path_and_query(path_and_query)
            .build()
    }

    /// Sends a request; a failure says whether the upstream did not answer or not in time
    /// (counted in `veil_upstream_errors_total`). An idempotent
    /// request without a body is sent again, once, on a fresh connection when a pooled one
    /// turned out closed before any response byte (the upstream closed it as veil reused
    /// it: a race every keep-alive proxy meets).
    pub async fn send(
        &self,
        req: Request<ProxyBody>,
        timeout: Duration,
        metrics: &Metrics,
    ) -> Result<Response<Incoming>, Failure> {
        use http_body::Body as _;
        let again = (idempotent(req.method()) && req.body().is_end_stream()).then(|| {
            let mut b = Request::builder()
                .method(req.method().clone())
                .uri(req.uri().clone())
                .version(req.version());
            if let Some(h) = b.headers_mut() {
                *h = req.headers().clone();
            }
            b
        });
        let deadline = tokio::time::Instant::now() + timeout;
        let first = tokio::time::timeout_at(deadline, self.client().request(req)).await;
        let result = match (first, again) {
            (Ok(Err(e)), Some(b)) if stale_connection(&e) => {
                metrics
                    .upstream_errors
                    .with_label_values(&["retried"])
                    .inc();
                let req = b.body(full(Bytes::new())).expect("a request rebuilt");
                tokio::time::timeout_at(deadline, self.client().request(req)).await
            }
            (first, _) => first,
        };
        match result {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => {
                let kind = if e.is_connect() { "connect" } else { "request" };
                metrics.upstream_errors.with_label_values(&[kind]).inc();
                tracing::warn!(error = %e, kind, "upstream error");
                Err(Failure::Unavailable)
            }
            Err(_) => {
                metrics
                    .upstream_errors
                    .with_label_values(&["timeout"])
                    .inc();
                Err(Failure::Timeout)
            }
        }
    }

    /// Sends a request veil makes on its own account (the role probe).
    pub async fn send_raw(
        &self,
        req: Request<ProxyBody>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, ()> {
        match tokio::time::timeout(timeout, self.client().request(req)).await {
            Ok(Ok(r)) => Ok(r),
            _ => Err(()),
        }
    }
}

/// Methods a client may send twice with the same effect (RFC 9110 §9.2.2).
fn idempotent(m: &http::Method) -> bool {
    matches!(
        *m,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::PUT
            | http::Method::DELETE
    )
}

/// A pooled connection that was closed under the request, before any response byte.
fn stale_connection(e: &hyper_util::client::legacy::Error) -> bool {
    use std::error::Error as _;
    if e.is_connect() {
        return false;
    }
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            return h.is_incomplete_message() || h.is_canceled() || h.is_closed();
        }
        source = s.source();
    }
    false
}

fn client_tls(ca: &std::path::Path) -> Result<rustls::ClientConfig, String> {
    use rustls_pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| e.to_string())? {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}
