//! The audit log: JSON lines, one per event, to a file or stdout.
//!
//! Events: `reveal` (who revealed what kind, allowed or refused), `detokenize` (a token
//! met at a request place: turned back, refused or invalid), `quota_exceeded`, `clear_served` (a
//! response served a protected kind in the clear: counts by kind), `role_resolution`
//! (a resolver failed), `spoofed_role_header`. Never a PII value, a key or a credential:
//! the event types below have no field that could hold one.
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    Reveal {
        principal: &'a str,
        role: &'a str,
        kind: &'a str,
        result: &'a str,
        peer: String,
    },
    Detokenize {
        principal: &'a str,
        role: &'a str,
        route: &'a str,
        place: &'a str,
        kind: &'a str,
        key_id: &'a str,
        result: &'a str,
    },
    /// A request refused for its role or what it would serve (`role_not_allowed`,
    /// `export_refused`).
    Refused {
        principal: &'a str,
        role: &'a str,
        route: &'a str,
        reason: &'a str,
    },
    /// A caller's distinct contacts went past its budget (once per window).
    CollectionExceeded {
        principal: &'a str,
        role: &'a str,
        route: &'a str,
        seen: u32,
        budget: u32,
    },
    /// A request from a caller over its collection budget: refused or masked-all.
    CollectionOver {
        principal: &'a str,
        role: &'a str,
        route: &'a str,
        seen: u32,
        budget: u32,
        action: &'a str,
    },
    QuotaExceeded {
        principal: &'a str,
        role: &'a str,
        route: &'a str,
        scope: &'a str,
        reason: &'a str,
    },
    ClearServed {
        role: &'a str,
        route: &'a str,
        kinds: BTreeMap<&'a str, u32>,
    },
    RoleResolution {
        resolver: &'a str,
        result: &'a str,
        peer: String,
    },
    SpoofedRoleHeader {
        peer: String,
    },
}

#[derive(Serialize)]
struct Line<'a> {
    ts: f64,
    #[serde(flatten)]
    event: &'a Event<'a>,
}

/// Where audit events go; `disabled` drops them.
pub struct Audit {
    sink: Option<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("enabled", &self.sink.is_some())
            .finish()
    }
}

impl Audit {
    pub fn disabled() -> Audit {
        Audit { sink: None }
    }

    /// `-` is stdout; anything else a file appended to.
    pub fn open(path: &str) -> std::io::Result<Audit> {
        let sink: Box<dyn Write + Send> = if path == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )
        };
        Ok(Audit {
            sink: Some(Mutex::new(sink)),
        })
    }

    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    pub fn log(&self, event: &Event<'_>) {
        let Some(sink) = &self.sink else { return };
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let Ok(mut line) = serde_json::to_vec(&Line { ts, event }) else {
            return;
        };
        line.push(b'\n');
        if let Ok(mut w) = sink.lock() {
            let _ = w.write_all(&line);
            let _ = w.flush();
        }
    }
}
