//! The harness of the proxy tests: the real `veil serve` binary in a child process (killed
//! on drop), test upstreams on 127.0.0.1 (hyper, raw TCP, TLS), and a client that keeps
//! every byte it received even when the response is cut.
#![allow(dead_code)]

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub mod fx;

/// The fixed test key: tokens are the same in every run.
pub const KEY_LINE: &str = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Every test is bounded: past this it fails instead of hanging.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(40);

/// Runs a test body with a deadline.
pub async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("the test did not finish in time");
}

/// A scratch folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "veil-proxytest-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How to configure one veil process.
pub struct Setup {
    pub upstream: String,
    /// `trusted_peers` of the `x-veil-role` header resolver.
    pub trusted_peers: String,
    /// Extra lines under `upstream:` (indented by the caller with two spaces).
    pub upstream_extra: String,
    /// Extra top-level YAML.
    pub extra: String,
    /// A whole `roles:` section replacing the default `x-veil-role` trusted header one
    /// (top-level YAML, starting with `roles:`).
    pub roles: Option<String>,
    /// The key file's text instead of [`KEY_LINE`].
    pub keys: Option<String>,
    /// Serve a copy of `rules/` in the veil's own folder (tests that edit rules and reload).
    pub copy_rules: bool,
    /// Edits of that copy before veil starts: (file under `rules/`, text, replacement).
    /// Implies `copy_rules`.
    pub rules_patch: Vec<(&'static str, &'static str, String)>,
}

impl Setup {
    pub fn new(upstream: impl Into<String>) -> Setup {
        Setup {
            upstream: upstream.into(),
            trusted_peers: "127.0.0.1".into(),
            upstream_extra: String::new(),
            extra: String::new(),
            roles: None,
            keys: None,
            copy_rules: false,
            rules_patch: Vec::new(),
        }
    }
}

/// A running `veil serve`; the process is killed when this is dropped.
pub struct Veil {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub dir: TempDir,
}

impl Veil {
    /// Plain HTTP upstream `http://ADDR`, default settings.
    pub fn start(upstream: SocketAddr) -> Veil {
        Veil::with(Setup::new(format!("http://{upstream}")))
    }

    /// Writes the config, spawns the binary and reads its `veil listening on` line.
    pub fn with(setup: Setup) -> Veil {
        Veil::with_dir(setup, TempDir::new())
    }

    /// As [`Veil::with`], in a folder the caller prepared (certificates).
    pub fn with_dir(setup: Setup, dir: TempDir) -> Veil {
        let keys = dir.path().join("keys.txt");
        let key_text = setup.keys.unwrap_or_else(|| format!("{KEY_LINE}\n"));
        std::fs::write(&keys, key_text).expect("keys file");
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let rules = if setup.copy_rules || !setup.rules_patch.is_empty() {
            let copy = dir.path().join("rules");
            copy_dir(&shipped, &copy);
            for (file, from, to) in &setup.rules_patch {
                let path = copy.join(file);
                let text = std::fs::read_to_string(&path).expect("a rule file to patch");
                assert!(text.contains(from), "{file} has no {from:?}");
                std::fs::write(&path, text.replace(from, to)).expect("patched rule file");
            }
            copy
        } else {
            shipped
        };
        let roles = setup.roles.unwrap_or_else(|| {
            format!(
                "roles:\n  resolvers:\n    - type: trusted_header\n      header: x-veil-role\n      trusted_peers: [{}]\n",
                setup.trusted_peers
            )
        });
        let config = format!(
            "listen: 127.0.0.1:0\n\
             upstream:\n  url: {}\n{}\
             rules: {}\n\
             keys: {}\n\
             admin:\n  listen: 127.0.0.1:0\n\
             {}\
             {}",
            setup.upstream,
            setup.upstream_extra,
            rules.display(),
            keys.display(),
            roles,
            setup.extra,
        );
        let config_path = dir.path().join("veil.yaml");
        std::fs::write(&config_path, config).expect("config file");
        let log = std::fs::File::create(dir.path().join("veil.log")).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn veil");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("veil did not start in time");
            }
        };
        let Some((addr, admin)) = parse_listening(&line) else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("veil.log")).unwrap_or_default();
            panic!("veil did not start: stdout {line:?}\nstderr:\n{log}");
        };
        Veil {
            child,
            addr,
            admin,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("veil.log")).unwrap_or_default()
    }

    /// The veil child's process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The key file veil was started with (rewrite it, then reload).
    pub fn keys_path(&self) -> PathBuf {
        self.dir.path().join("keys.txt")
    }

    /// The rules folder this veil serves (its own copy when `copy_rules` was set).
    pub fn rules_dir(&self) -> PathBuf {
        let copy = self.dir.path().join("rules");
        if copy.is_dir() {
            copy
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
        }
    }

    /// Sends SIGHUP (reload the rules).
    pub fn sighup(&self) {
        self.signal("HUP");
    }

    /// Sends a signal by name (`HUP`, `TERM`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} {} failed", self.pid());
    }

    /// Waits up to `within` for the process to exit on its own.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// The names of the process's threads (`/proc/PID/task/*/comm`), sorted.
    pub fn thread_names(&self) -> Vec<String> {
        let tasks =
            std::fs::read_dir(format!("/proc/{}/task", self.pid())).expect("/proc/PID/task");
        let mut names: Vec<String> = tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|n| n.trim().to_owned())
            .collect();
        names.sort();
        names
    }

    /// Resident memory of the veil process, in KiB (`VmRSS` in /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }

    /// `GET /metrics` on the admin listener.
    pub async fn metrics(&self) -> Metrics {
        let got = fetch(request(
            "GET",
            &format!("http://{}/metrics", self.admin),
            None,
            &[],
            Bytes::new(),
        ))
        .await;
        assert_eq!(got.status, 200, "{}", got.text());
        Metrics(got.text())
    }

    /// Polls `/metrics` until `cond` holds (or panics after `within`).
    pub async fn wait_metrics(&self, within: Duration, cond: impl Fn(&Metrics) -> bool) -> Metrics {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let m = self.metrics().await;
            if cond(&m) {
                return m;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("metrics did not reach the expected state:\n{}", m.0);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A Prometheus text exposition.
#[derive(Debug, Clone)]
pub struct Metrics(pub String);

impl Metrics {
    /// The value of the sample `name` whose labels include all of `labels`, summed over
    /// the samples that match (`0` when there is none).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, labels).iter().map(|(_, v)| v).sum()
    }

    /// Every sample `name{…} value` whose labels include all of `labels`: (labels, value).
    pub fn samples(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for line in self.0.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let (n, l) = match series.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (series, ""),
            };
            if n != name {
                continue;
            }
            if labels
                .iter()
                .all(|(k, v)| l.split(',').any(|kv| kv == format!("{k}=\"{v}\"")))
            {
                out.push((l.to_owned(), value.parse().unwrap_or(f64::NAN)));
            }
        }
        out
    }
}

/// Copies a folder recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

impl std::fmt::Display for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Metrics {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// The value of one sample in a Prometheus text exposition: the line of metric `name`
/// whose labels include every `k="v"` of `labels` (0 when there is none).
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labelset, value) = match rest.strip_prefix('{') {
                Some(r) => r.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            let all = labels
                .iter()
                .all(|(k, v)| labelset.split(',').any(|p| p == format!("{k}=\"{v}\"")));
            all.then(|| value.trim().parse::<f64>().ok()).flatten()
        })
        .sum()
}

impl Drop for Veil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- veil log ---\n{}", self.log());
        }
    }
}

/// `veil listening on 127.0.0.1:1234 (admin 127.0.0.1:5678)`
fn parse_listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let rest = line.trim().strip_prefix("veil listening on ")?;
    let (addr, admin) = rest.split_once(" (admin ")?;
    Some((addr.parse().ok()?, admin.strip_suffix(')')?.parse().ok()?))
}

// ---------------------------------------------------------------------------------------
// Upstreams

/// A request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent on the request line.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Every request an upstream received.
#[derive(Debug, Clone, Default)]
pub struct Log(pub Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    pub fn last(&self) -> Seen {
        self.all().pop().expect("the upstream received a request")
    }
}

/// The body type of test upstream responses: whole, or fed chunk by chunk.
pub type UpBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

pub fn whole(b: impl Into<Bytes>) -> UpBody {
    Full::new(b.into()).boxed_unsync()
}

/// A body whose chunks are sent through a channel: each send is one frame (one HTTP/1
/// chunk), and the body ends when the sender is dropped.
pub struct ChanBody(pub mpsc::Receiver<Bytes>);

impl Body for ChanBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// A channel-fed body and its sender.
pub fn channel_body() -> (mpsc::Sender<Bytes>, UpBody) {
    let (tx, rx) = mpsc::channel(64);
    (tx, ChanBody(rx).boxed_unsync())
}

pub fn response(status: u16, headers: &[(&str, &str)], body: UpBody) -> Response<UpBody> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body).expect("a valid response")
}

type Handler =
    Arc<dyn Fn(Seen) -> Pin<Box<dyn Future<Output = Response<UpBody>> + Send>> + Send + Sync>;

/// A hyper HTTP/1.1 upstream on 127.0.0.1:0; the handler sees each request (body read).
pub async fn upstream<F, Fut>(handler: F) -> (SocketAddr, Log)
where
    F: Fn(Seen) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<UpBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    upstream_on(listener, handler)
}

/// As [`upstream`], on a listener the caller bound (a fixed address).
pub fn upstream_on<F, Fut>(listener: TcpListener, handler: F) -> (SocketAddr, Log)
where
    F: Fn(Seen) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<UpBody>> + Send + 'static,
{
    let addr = listener.local_addr().unwrap();
    let log = Log::default();
    let handler: Handler = Arc::new(move |s| Box::pin(handler(s)));
    let l = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            serve_conn(TokioIo::new(stream), handler.clone(), l.clone());
        }
    });
    (addr, log)
}

/// The contacts upstream: the JSON fixture ([`fx::CONTACTS_JSON`]) at every path, every
/// request recorded.
pub async fn contacts_upstream() -> (SocketAddr, Log) {
    upstream(|_| async { response(200, &[fx::json_ct()], whole(fx::CONTACTS_JSON)) }).await
}

/// The WebSocket side of [`mux_upstream`].
pub type UpWs = tokio_tungstenite::WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// An upstream for HTTP and WebSocket on one port: a WebSocket upgrade (on a new or a
/// reused connection) is accepted and the socket handed to `ws` with the request target;
/// any other request is served by `handler` as [`upstream`] does. A connection whose first
/// request targets a path containing `/__drop` is closed without an answer.
pub async fn mux_upstream<F, Fut, W, WFut>(handler: F, ws: W) -> (SocketAddr, Log)
where
    F: Fn(Seen) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<UpBody>> + Send + 'static,
    W: Fn(String, UpWs) -> WFut + Send + Sync + 'static,
    WFut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let log = Log::default();
    let handler: Handler = Arc::new(move |s| Box::pin(handler(s)));
    let ws = Arc::new(ws);
    let l = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (handler, ws, log) = (handler.clone(), ws.clone(), l.clone());
            tokio::spawn(async move {
                // Peek at the first head without consuming it.
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = match stream.peek(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") || n == buf.len() {
                        if String::from_utf8_lossy(&buf[..n]).contains("/__drop") {
                            return;
                        }
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let svc = service_fn(move |mut req: Request<Incoming>| {
                    let (handler, ws, log) = (handler.clone(), ws.clone(), log.clone());
                    async move {
                        let target = req
                            .uri()
                            .path_and_query()
                            .map_or("/".into(), |p| p.to_string());
                        let upgrade = req
                            .headers()
                            .get("upgrade")
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
                        if upgrade {
                            let key = req
                                .headers()
                                .get("sec-websocket-key")
                                .map(|k| k.as_bytes().to_vec())
                                .unwrap_or_default();
                            let on = hyper::upgrade::on(&mut req);
                            tokio::spawn(async move {
                                if let Ok(up) = on.await {
                                    let socket =
                                        tokio_tungstenite::WebSocketStream::from_raw_socket(
                                            TokioIo::new(up),
                                            tokio_tungstenite::tungstenite::protocol::Role::Server,
                                            None,
                                        )
                                        .await;
                                    ws(target, socket).await;
                                }
                            });
                            let accept =
                                tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
                            return Ok::<_, Infallible>(response(
                                101,
                                &[
                                    ("connection", "upgrade"),
                                    ("upgrade", "websocket"),
                                    ("sec-websocket-accept", &accept),
                                ],
                                whole(""),
                            ));
                        }
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let seen = Seen {
                            method: parts.method.to_string(),
                            target,
                            headers: parts.headers,
                            body,
                        };
                        log.0.lock().unwrap().push(seen.clone());
                        Ok(handler(seen).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, log)
}

fn serve_conn<I>(io: I, handler: Handler, log: Log)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let svc = service_fn(move |req: Request<Incoming>| {
            let handler = handler.clone();
            let log = log.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                let seen = Seen {
                    method: parts.method.to_string(),
                    target: parts
                        .uri
                        .path_and_query()
                        .map_or("/".into(), |p| p.to_string()),
                    headers: parts.headers,
                    body,
                };
                log.0.lock().unwrap().push(seen.clone());
                Ok::<_, Infallible>(handler(seen).await)
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, svc)
            .await;
    });
}

/// A TLS (rustls, HTTP/1.1) upstream on 127.0.0.1:0.
pub async fn tls_upstream<F, Fut>(
    handler: F,
    server: Arc<rustls::ServerConfig>,
) -> (SocketAddr, Log)
where
    F: Fn(Seen) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<UpBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let log = Log::default();
    let handler: Handler = Arc::new(move |s| Box::pin(handler(s)));
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    let l = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, handler, l) = (acceptor.clone(), handler.clone(), l.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    serve_conn(TokioIo::new(tls), handler, l);
                }
            });
        }
    });
    (addr, log)
}

/// A raw TCP upstream: reads each request head, then hands the socket to `write`.
pub async fn raw_upstream<F, Fut>(write: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    raw_upstream_with_head(move |_, s| write(s)).await
}

/// As [`raw_upstream`], and `write` also gets the request head (to answer by path).
pub async fn raw_upstream_with_head<F, Fut>(write: F) -> SocketAddr
where
    F: Fn(String, TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let write = Arc::new(write);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let write = write.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                write(String::from_utf8_lossy(&head).into_owned(), stream).await;
            });
        }
    });
    addr
}

/// Writes raw bytes and flushes.
pub async fn send_raw(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes).await;
    let _ = stream.flush().await;
}

/// Reads from `stream` until `end` has arrived (returns all bytes read), or `None` when
/// it has not within `within` or the connection closed first.
pub async fn read_until(stream: &mut TcpStream, end: &[u8], within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    tokio::time::timeout(within, async {
        while !got.windows(end.len()).any(|w| w == end) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        Some(())
    })
    .await
    .ok()
    .flatten()?;
    Some(got)
}

/// An address nothing listens on.
pub async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

// ---------------------------------------------------------------------------------------
// The client

/// What a client received: the head, every body byte that arrived, and the error that cut
/// the body (if one did).
#[derive(Debug)]
pub struct Got {
    /// The response head arrived. When it did not (the connection closed first, see
    /// [`get_or_cut`]), `status` is a stand-in 502, the rest is empty and `error` says why.
    pub head: bool,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub version: http::Version,
    pub body: Vec<u8>,
    pub error: Option<String>,
}

impl Got {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body arrived whole, without a transport error.
    pub fn complete(&self) -> &Self {
        assert!(
            self.error.is_none(),
            "body cut: {:?}; got {}",
            self.error,
            self.text()
        );
        self
    }
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// Builds a request with a role header (`None`: no role header at all).
pub fn request(
    method: &str,
    url: &str,
    role: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(method).uri(url);
    if let Some(r) = role {
        b = b.header("x-veil-role", r);
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(body.into())).expect("a valid request")
}

/// Reads a response to the end (or to the error that cuts it).
pub async fn read(resp: Response<Incoming>) -> Got {
    let (parts, mut body) = resp.into_parts();
    let mut out = Vec::new();
    let mut error = None;
    while let Some(f) = body.frame().await {
        match f {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    out.extend_from_slice(&d);
                }
            }
            Err(e) => {
                error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    Got {
        head: true,
        status: parts.status,
        headers: parts.headers,
        version: parts.version,
        body: out,
        error,
    }
}

/// Sends a request with a fresh client and reads the whole response.
pub async fn fetch(req: Request<Full<Bytes>>) -> Got {
    try_fetch(req).await.expect("veil answered")
}

/// As [`fetch`], but a connection closed before the response head is an `Err`.
pub async fn try_fetch(req: Request<Full<Bytes>>) -> Result<Got, String> {
    let resp = client().request(req).await.map_err(|e| format!("{e:?}"))?;
    Ok(read(resp).await)
}

/// As [`try_fetch`], a GET of `path` through veil as `role`.
pub async fn try_get(veil: &Veil, path: &str, role: &str) -> Result<Got, String> {
    try_fetch(request(
        "GET",
        &veil.url(path),
        Some(role),
        &[],
        Bytes::new(),
    ))
    .await
}

/// GET `path` through veil as `role`.
pub async fn get(veil: &Veil, path: &str, role: &str) -> Got {
    try_get(veil, path, role).await.expect("veil answered")
}

/// GET `path` through veil as `role`, where veil may cut the response. When veil aborts
/// before hyper has flushed the response head, the client sees the connection close
/// instead of a cut body: that is a cut too, returned with `head: false`.
pub async fn get_or_cut(veil: &Veil, path: &str, role: &str) -> Got {
    try_get(veil, path, role).await.unwrap_or_else(|e| Got {
        head: false,
        status: StatusCode::BAD_GATEWAY,
        headers: HeaderMap::new(),
        version: http::Version::HTTP_11,
        body: Vec::new(),
        error: Some(e),
    })
}

// ---------------------------------------------------------------------------------------
// Assertions

/// The response did not arrive whole as a success: cut mid-body, closed before its
/// head, or an error status.
#[track_caller]
pub fn assert_not_whole(got: &Got) {
    assert!(
        got.error.is_some() || got.status != StatusCode::OK,
        "a body that cannot be masked must not arrive whole: {} {}",
        got.status,
        got.text()
    );
}

/// None of `pii` appears in `text`.
#[track_caller]
pub fn assert_absent(text: &str, pii: &[&str]) {
    for p in pii {
        assert!(!text.contains(p), "PII {p:?} leaked in:\n{text}");
    }
}

/// All of `keep` appear in `text`.
#[track_caller]
pub fn assert_present(text: &str, keep: &[&str]) {
    for k in keep {
        assert!(text.contains(k), "{k:?} missing from:\n{text}");
    }
}

/// Decodes a body in `coding` (`gzip`, `br`, `zstd`).
pub fn decode(coding: &str, data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    match coding {
        "gzip" => {
            flate2::read::MultiGzDecoder::new(data)
                .read_to_end(&mut out)
                .expect("gzip");
        }
        "br" => {
            brotli::Decompressor::new(data, 4096)
                .read_to_end(&mut out)
                .expect("br");
        }
        "zstd" => out = zstd::stream::decode_all(data).expect("zstd"),
        other => panic!("unknown coding {other}"),
    }
    out
}

/// Encodes a body in `coding`.
pub fn encode(coding: &str, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match coding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                w.write_all(data).unwrap();
            }
            out
        }
        "zstd" => zstd::stream::encode_all(data, 3).unwrap(),
        other => panic!("unknown coding {other}"),
    }
}
