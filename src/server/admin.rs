//! The admin listener, separate from the proxy port: `/metrics`, `/healthz`, `/readyz`.
//! Nothing else is served there, and none of these paths exist on the proxy port.
use crate::proxy::{full, Proxy, ProxyBody};
use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            _ = shutdown.changed() => return,
        };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let proxy = proxy.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&proxy, req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn handle(proxy: &Proxy, req: Request<Incoming>) -> Response<ProxyBody> {
    let text = |status: StatusCode, body: String, ct: &'static str| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, ct)
            .body(full(body))
            .expect("a valid response")
    };
    match req.uri().path() {
        "/metrics" => text(
            StatusCode::OK,
            proxy.metrics.render(),
            "text/plain; version=0.0.4",
        ),
        "/healthz" => text(StatusCode::OK, "ok\n".into(), "text/plain"),
        "/readyz" => {
            if !proxy.upstream_seen.load(Ordering::Relaxed) {
                // Not seen through traffic yet: try to reach it now.
                let reachable = tokio::time::timeout(
                    std::time::Duration::from_secs(1),
                    tokio::net::TcpStream::connect(proxy.upstream.authority.as_str()),
                )
                .await
                .is_ok_and(|r| r.is_ok());
                if reachable {
                    proxy.upstream_seen.store(true, Ordering::Relaxed);
                }
            }
            if proxy.upstream_seen.load(Ordering::Relaxed) {
                let version = proxy.rules.load().version.clone();
                text(
                    StatusCode::OK,
                    format!("ready: rules {version}\n"),
                    "text/plain",
                )
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: the upstream has not answered yet\n".into(),
                    "text/plain",
                )
            }
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".into(), "text/plain"),
    }
}
