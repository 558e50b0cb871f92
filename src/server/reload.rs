//! Hot reload: on SIGHUP and when the rules folder, the key file or the TLS files change
//! (notify, debounced), compile off the hot path and swap atomically (arc-swap). Requests
//! in flight keep the rule set they started with (they hold an `Arc` of it). A reload that
//! fails keeps everything running as it was, logs each problem with file, line and reason,
//! and counts the failure.
use super::config::Config;
use super::tls::Acceptor;
use crate::proxy::Proxy;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long file events are collected before one reload.
const DEBOUNCE: Duration = Duration::from_millis(300);

pub async fn watch(
    proxy: Arc<Proxy>,
    config: Config,
    tls: Option<Acceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let mut files: Vec<PathBuf> = config.keys.iter().cloned().collect();
    if let Some(t) = &config.tls {
        files.push(t.cert.clone());
        files.push(t.key.clone());
    }
    // A file replaced by a rename (how editors and config tools write) is a new inode that
    // a watch on the old one never sees: files are watched through their folder too, and
    // only events about the watched paths count (other files may live in that folder).
    let folder = |f: &Path| match f.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let wanted: Vec<(PathBuf, std::ffi::OsString)> = files
        .iter()
        .filter_map(|f| Some((folder(f), f.file_name()?.to_owned())))
        .collect();
    let rules_dir = config.rules.clone();
    let watched = files.clone();
    let relevant = move |p: &Path| {
        p.starts_with(&rules_dir)
            || watched.iter().any(|f| f == p)
            || wanted
                .iter()
                .any(|(dir, name)| p.file_name() == Some(name) && p.parent() == Some(dir))
    };
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if !matches!(ev.kind, notify::EventKind::Access(_))
                && ev.paths.iter().any(|p| relevant(p))
            {
                let _ = tx.send(());
            }
        }
    });
    let _watcher = match watcher {
        Ok(mut w) => {
            let mut paths = vec![config.rules.clone()];
            paths.extend(files.iter().cloned());
            for p in paths
                .iter()
                .filter(|p| p.as_os_str() != crate::rules::embedded::EMBEDDED)
            {
                if let Err(e) = w.watch(p, RecursiveMode::Recursive) {
                    tracing::warn!(path = %p.display(), error = %e, "cannot watch for changes; SIGHUP still reloads");
                }
            }
            let mut folders: Vec<PathBuf> = files.iter().map(|f| folder(f)).collect();
            folders.sort();
            folders.dedup();
            for d in &folders {
                if let Err(e) = w.watch(d, RecursiveMode::NonRecursive) {
                    tracing::warn!(path = %d.display(), error = %e, "cannot watch for changes; SIGHUP still reloads");
                }
            }
            Some(w)
        }
        Err(e) => {
            tracing::warn!(error = %e, "file watching unavailable; SIGHUP still reloads");
            None
        }
    };
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        tokio::select! {
            _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => {
                reload(&proxy, &config, tls.as_ref(), "sighup").await;
            }
            Some(()) = rx.recv() => {
                tokio::time::sleep(DEBOUNCE).await;
                while rx.try_recv().is_ok() {}
                reload(&proxy, &config, tls.as_ref(), "file_change").await;
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// Recompiles rules, keys and certificates; swaps what compiled.
pub async fn reload(proxy: &Proxy, config: &Config, tls: Option<&Acceptor>, trigger: &str) {
    let dir = config.rules.clone();
    let compiled = tokio::task::spawn_blocking(move || crate::rules::load_dir(&dir)).await;
    match compiled {
        Ok(Ok((set, warnings))) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            let unknown = proxy.resolver.unknown_roles(&set);
            if unknown.is_empty() {
                let version = set.version.clone();
                proxy.rules.store(Arc::new(set));
                // Cache entries made with the old rules are never matched again: every
                // worker drops them (clear values among them) at its next response.
                crate::engine::cache::scope::retire();
                proxy.metrics.set_rules_version(&version);
                proxy.metrics.rule_reloads.with_label_values(&["ok"]).inc();
                tracing::info!(trigger, %version, "rules reloaded");
            } else {
                proxy
                    .metrics
                    .rule_reloads
                    .with_label_values(&["error"])
                    .inc();
                tracing::error!(trigger, roles = ?unknown, "reload refused: the new rules lack roles the resolvers use; keeping the running rules");
            }
        }
        Ok(Err(diags)) => {
            proxy
                .metrics
                .rule_reloads
                .with_label_values(&["error"])
                .inc();
            for d in diags.errors() {
                tracing::error!(trigger, "{d}");
            }
            tracing::error!(trigger, "reload failed; keeping the running rules");
        }
        Err(e) => {
            proxy
                .metrics
                .rule_reloads
                .with_label_values(&["error"])
                .inc();
            tracing::error!(trigger, error = %e, "reload panicked; keeping the running rules");
        }
    }
    if config.keys.is_some() {
        match super::load_keys(config) {
            Ok(k) => {
                proxy.keys.store(Arc::new(k));
                crate::engine::cache::scope::retire();
            }
            Err(e) => {
                tracing::error!(trigger, error = %format!("{e:#}"), "key reload failed; keeping the running keys")
            }
        }
    }
    if let (Some(acceptor), Some(t)) = (tls, &config.tls) {
        if let Err(e) = acceptor.reload(&t.cert, &t.key) {
            tracing::error!(trigger, error = %format!("{e:#}"), "certificate reload failed; keeping the running certificate");
        }
    }
}
