//! From raw rule files to a [`RuleSet`]: merge, validate, compile. Reports every problem
//! it finds (not only the first) with file, line, column and reason.
use super::diagnostic::{Diagnostic, Diagnostics, Severity, Source};
use super::raw::{ActionRaw, DetectorRaw, RoleRaw, RouteRaw, RuleFile};
use super::request::{names_free_text, Collection, OverBudget, RequestPlaces, RoleGrants};
use super::ruleset::{OnUnknown, RoleId, Route, RuleSet};
use crate::detect::{Builtin, DetectorDef, DetectorSet, DetectorSpec, Detectors};
use crate::fields::json::JsonFields;
use crate::fields::{FieldRules, FieldTarget};
use crate::vocab::action::Action;
use crate::vocab::kind::{KindId, Kinds};
use crate::vocab::plan::Limits;
use crate::vocab::policy::RolePolicy;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files that hold rule test cases, not rules (`veil test` reads them).
pub const TEST_SUFFIX: &str = ".tests.yaml";

/// The rule files of a folder (recursively), sorted by path: `*.yaml` and `*.yml` except
/// test suites. Hidden entries (a leading `.`) are skipped: a Kubernetes ConfigMap or
/// Secret volume holds each file three times (`x`, `..data/x`, `..<timestamp>/x`), and
/// editors leave `.#x.yaml` lock links and swap files beside the real ones.
pub fn rule_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    collect(dir, &mut out, &|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.ends_with(TEST_SUFFIX)
    })?;
    out.sort();
    Ok(out)
}

/// Test suite files of a folder, sorted.
pub fn test_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    collect(dir, &mut out, &|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(TEST_SUFFIX))
    })?;
    out.sort();
    Ok(out)
}

fn collect(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    keep: &dyn Fn(&Path) -> bool,
) -> std::io::Result<()> {
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out, keep)?;
        } else if keep(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads and compiles every rule file of `dir` (or one file). On success the warnings come
/// along; on failure, every error found.
pub fn load_dir(dir: &Path) -> Result<(RuleSet, Vec<Diagnostic>), Diagnostics> {
    if dir.as_os_str() == super::embedded::EMBEDDED {
        return compile_sources(&super::embedded::sources(), Vec::new());
    }
    let files = rule_files(dir).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            severity: Severity::Error,
            file: dir.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read the rules folder: {e}"),
        }])
    })?;
    let mut sources = Vec::new();
    let mut diags = Vec::new();
    for path in &files {
        match std::fs::read_to_string(path) {
            Ok(text) => sources.push(Source {
                path: path.clone(),
                text,
            }),
            Err(e) => diags.push(Diagnostic {
                severity: Severity::Error,
                file: path.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    if files.is_empty() {
        diags.push(Diagnostic {
            severity: Severity::Error,
            file: dir.to_path_buf(),
            line: 0,
            column: 0,
            message: "no rule files (*.yaml) found".into(),
        });
    }
    compile_sources(&sources, diags)
}

/// Compiles rule sources (already read). Exposed for tests and fuzzing.
pub fn compile_sources(
    sources: &[Source],
    mut diags: Vec<Diagnostic>,
) -> Result<(RuleSet, Vec<Diagnostic>), Diagnostics> {
    let mut parsed: Vec<(&Source, RuleFile)> = Vec::new();
    for src in sources {
        if src.text.trim().is_empty() {
            continue;
        }
        match serde_yaml_ng::from_str::<RuleFile>(&src.text) {
            Ok(f) => parsed.push((src, f)),
            Err(e) => {
                let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
                diags.push(Diagnostic {
                    severity: Severity::Error,
                    file: src.path.clone(),
                    line,
                    column,
                    message: strip_location(&e.to_string()),
                });
            }
        }
    }
    let mut c = Compiler {
        diags,
        compiled_roles: Vec::new(),
        kinds: Kinds::default(),
        broken_detectors: Vec::new(),
    };
    let set = c.compile(&parsed);
    if c.diags.iter().any(|d| d.severity == Severity::Error) {
        return Err(Diagnostics(c.diags));
    }
    match set {
        Some(mut set) => {
            let mut h = Sha256::new();
            for s in sources {
                h.update(s.path.to_string_lossy().as_bytes());
                h.update(s.text.as_bytes());
            }
            set.version = data_encoding::HEXLOWER.encode(&h.finalize()[..6]);
            set.files = sources.iter().map(|s| s.path.clone()).collect();
            Ok((set, c.diags))
        }
        None => Err(Diagnostics(c.diags)),
    }
}

/// serde_yaml_ng appends "at line X column Y"; the diagnostic says it already.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(p) => msg[..p].to_owned(),
        None => msg.to_owned(),
    }
}

struct Compiler {
    diags: Vec<Diagnostic>,
    /// Roles compiled so far (a role's collection budget looks at its own actions).
    compiled_roles: Vec<Arc<RolePolicy>>,
    kinds: Kinds,
    /// Detectors already reported as broken: routes naming them say nothing more.
    broken_detectors: Vec<String>,
}

impl Compiler {
    fn error(&mut self, src: &Source, needle: &str, after: Option<&str>, msg: String) {
        self.diags
            .push(src.diag(Severity::Error, needle, after, msg));
    }

    fn warn(&mut self, src: &Source, needle: &str, after: Option<&str>, msg: String) {
        self.diags
            .push(src.diag(Severity::Warning, needle, after, msg));
    }

    fn compile(&mut self, files: &[(&Source, RuleFile)]) -> Option<RuleSet> {
        // Detectors, merged by name.
        let mut det_defs: Vec<DetectorDef> = Vec::new();
        let mut det_src: Vec<&Source> = Vec::new();
        for (src, f) in files {
            for (name, d) in &f.detectors {
                if let Some(i) = det_defs.iter().position(|x| &x.name == name) {
                    let other = det_src[i].path.display().to_string();
                    self.error(
                        src,
                        &format!("{name}:"),
                        Some("detectors:"),
                        format!("detector {name:?} is also defined in {other}"),
                    );
                    continue;
                }
                if let Some(def) = self.detector(src, name, d) {
                    det_defs.push(def);
                    det_src.push(src);
                }
            }
        }
        // Make sure every builtin kind exists so that roles can name them.
        for k in Builtin::NAMES {
            self.kinds.intern(k);
        }
        // Routes, in file order.
        let mut raw_routes: Vec<(&Source, &RouteRaw)> = Vec::new();
        for (src, f) in files {
            for r in &f.routes {
                if raw_routes.iter().any(|(_, x)| x.name == r.name) {
                    self.error(
                        src,
                        &r.name,
                        Some("routes:"),
                        format!("route {:?} is defined twice", r.name),
                    );
                    continue;
                }
                raw_routes.push((src, r));
            }
        }
        // Kinds named by field rules.
        for (src, r) in &raw_routes {
            for kind in r.json.values().chain(r.csv.values()).chain(r.html.values()) {
                if kind != "ignore" && !kind.starts_with("ignore ") {
                    if Kinds::valid_name(kind) {
                        self.kinds.intern(kind);
                    } else {
                        self.error(
                            src,
                            kind,
                            Some(&r.name),
                            format!("kind {kind:?} must match [a-z][a-z0-9]{{0,15}}"),
                        );
                    }
                }
            }
        }
        // Check each detector alone first, so that every broken one is reported; the rest
        // compile together.
        let mut broken = Vec::new();
        let mut i = 0;
        while i < det_defs.len() {
            if let Err(e) = Detectors::check(&det_defs[i]) {
                let name = det_defs[i].name.clone();
                self.error(
                    det_src[i],
                    &format!("{name}:"),
                    Some("detectors:"),
                    e.to_string(),
                );
                broken.push(name);
                det_defs.remove(i);
                det_src.remove(i);
            } else {
                i += 1;
            }
        }
        let detectors = match Detectors::compile(&det_defs) {
            Ok(d) => d,
            Err(e) => {
                let (src, needle) = match &e {
                    crate::detect::DetectorError::Invalid { detector, .. } => {
                        let i = det_defs.iter().position(|d| &d.name == detector);
                        (i.map(|i| det_src[i]), detector.clone())
                    }
                    _ => (None, "detectors:".into()),
                };
                match src.or_else(|| files.first().map(|(s, _)| *s)) {
                    Some(src) => self.error(src, &needle, Some("detectors:"), e.to_string()),
                    None => self.diags.push(Diagnostic {
                        severity: Severity::Error,
                        file: PathBuf::new(),
                        line: 0,
                        column: 0,
                        message: e.to_string(),
                    }),
                }
                return None;
            }
        };
        self.broken_detectors = broken;
        let mut used = vec![false; det_defs.len()];
        let mut routes = Vec::new();
        for (src, r) in &raw_routes {
            if let Some(route) = self.route(src, r, &detectors, &mut used) {
                routes.push(route);
            }
        }
        // A catch-all route (`/**`, any method) is tried after every other route, wherever
        // it is written, so that a generic pack never shadows a specific one.
        routes.sort_by_key(|r: &Route| {
            r.path_glob == "/**" && r.methods.is_empty() && r.websocket.is_none()
        });
        self.overlaps(&raw_routes, &routes);
        // Detectors no route scans: only the fallback route uses them.
        for (i, u) in used.iter().enumerate() {
            if !u && !raw_routes.iter().all(|(_, r)| r.scan.is_some()) {
                continue;
            }
            if !u {
                self.warn(
                    det_src[i],
                    &det_defs[i].name,
                    Some("detectors:"),
                    format!(
                        "detector {:?} is not scanned by any route (only by unmatched requests)",
                        det_defs[i].name
                    ),
                );
            }
        }
        // Roles, merged by name.
        let mut raw_roles: BTreeMap<String, (&Source, &RoleRaw)> = BTreeMap::new();
        let mut default_role: Option<(String, &Source)> = None;
        let mut limits = Limits::default();
        for (src, f) in files {
            for (name, role) in &f.roles {
                if raw_roles.contains_key(name) {
                    self.error(
                        src,
                        &format!("{name}:"),
                        Some("roles:"),
                        format!("role {name:?} is defined twice"),
                    );
                    continue;
                }
                raw_roles.insert(name.clone(), (src, role));
            }
            if let Some(d) = &f.default_role {
                if let Some((_, first)) = &default_role {
                    let other = first.path.display().to_string();
                    self.error(
                        src,
                        "default_role",
                        None,
                        format!("default_role is also set in {other}"),
                    );
                } else {
                    default_role = Some((d.clone(), src));
                }
            }
            if let Some(l) = &f.limits {
                limits.max_value = l.max_value.unwrap_or(limits.max_value);
                limits.max_depth = l.max_depth.unwrap_or(limits.max_depth);
                limits.max_subtree = l.max_subtree.unwrap_or(limits.max_subtree);
                limits.max_memory = l.max_memory.unwrap_or(limits.max_memory);
                // A value, its decoded copy, its 4-byte offset map and its replacement must fit.
                if limits.max_memory < 8 * limits.max_value.max(limits.max_subtree) {
                    self.error(
                        src,
                        "max_memory",
                        Some("limits:"),
                        format!(
                            "limits: max_memory ({}) must be at least 8 × max_value and max_subtree ({})",
                            limits.max_memory,
                            limits.max_value.max(limits.max_subtree)
                        ),
                    );
                }
            }
        }
        let kinds = std::mem::take(&mut self.kinds);
        let mut roles = Vec::new();
        let mut grants = Vec::new();
        for (name, (src, raw)) in &raw_roles {
            let policy = Arc::new(self.role(src, name, raw, &kinds));
            self.compiled_roles.push(policy.clone());
            let mut g = self.grants(src, name, raw, &kinds);
            g.learn_placeholders(&policy, kinds.len());
            roles.push(policy);
            self.collection(src, name, raw, &kinds, &mut g);
            grants.push(g);
        }
        let Some(first) = files.first().map(|(s, _)| *s) else {
            self.diags.push(Diagnostic {
                severity: Severity::Error,
                file: PathBuf::new(),
                line: 0,
                column: 0,
                message: "no rules".into(),
            });
            return None;
        };
        for route in &mut routes {
            let Some((src, raw)) = raw_routes.iter().find(|(_, r)| r.name == route.name) else {
                continue;
            };
            if let Some(names) = &raw.roles {
                let mut ids = Vec::new();
                for n in names {
                    match roles.iter().position(|r| &r.name == n) {
                        Some(i) => ids.push(RoleId(i)),
                        None => self.error(
                            src,
                            n,
                            Some(&raw.name),
                            format!("route {:?}: roles names unknown role {n:?}", raw.name),
                        ),
                    }
                }
                route.roles = Some(ids);
            }
        }
        if roles.is_empty() {
            self.error(first, "roles", None, "no roles are defined".into());
            return None;
        }
        let default_role = match default_role {
            None => {
                self.error(
                    first,
                    "roles",
                    None,
                    "default_role is not set (it should be the most restricted role)".into(),
                );
                return None;
            }
            Some((name, src)) => match roles.iter().position(|r| r.name == name) {
                Some(i) => {
                    if roles[i].is_all_clear() {
                        self.error(src, "default_role", None, format!("default_role {name:?} sees everything in the clear; the default must be the most restricted role"));
                    }
                    RoleId(i)
                }
                None => {
                    self.error(
                        src,
                        "default_role",
                        None,
                        format!("default_role {name:?} is not a defined role"),
                    );
                    return None;
                }
            },
        };
        let fallback = Route {
            name: "(fallback)".into(),
            path_glob: "/**".into(),
            path_glob_matcher: path_glob("/**").expect("a valid glob"),
            methods: Vec::new(),
            websocket: None,
            scan: DetectorSet::all(detectors.len()),
            fields: Arc::new(FieldRules::default()),
            on_unknown: OnUnknown::Scan,
            passthrough: false,
            detokenize: Arc::new(RequestPlaces::default()),
            contacts: false,
            roles: None,
        };
        Some(RuleSet {
            kinds: Arc::new(kinds),
            detectors: Arc::new(detectors),
            roles,
            grants,
            default_role,
            routes,
            fallback,
            limits,
            version: String::new(),
            files: Vec::new(),
        })
    }

    fn detector(&mut self, src: &Source, name: &str, d: &DetectorRaw) -> Option<DetectorDef> {
        let at = format!("{name}:");
        let n = [
            d.builtin.is_some(),
            d.regex.is_some(),
            d.words.is_some(),
            d.words_file.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if n != 1 {
            self.error(
                src,
                &at,
                Some("detectors:"),
                format!("detector {name:?} needs exactly one of builtin, regex, words, words_file"),
            );
            return None;
        }
        if d.regions.is_some() && d.builtin.as_deref() != Some("phone") {
            self.error(
                src,
                "regions",
                Some(&at),
                format!("detector {name:?}: regions only apply to builtin: phone"),
            );
        }
        let spec = if let Some(b) = &d.builtin {
            match Builtin::from_name(b, d.regions.clone()) {
                Some(b) => DetectorSpec::Builtin(b),
                None => {
                    self.error(
                        src,
                        b,
                        Some(&at),
                        format!(
                            "detector {name:?}: unknown builtin {b:?} (one of {})",
                            Builtin::NAMES.join(", ")
                        ),
                    );
                    return None;
                }
            }
        } else if let Some(re) = &d.regex {
            DetectorSpec::Regex(re.clone())
        } else if let Some(w) = &d.words {
            DetectorSpec::Words(w.clone())
        } else {
            let file = d.words_file.as_deref().unwrap_or_default();
            let path = src.path.parent().unwrap_or(Path::new(".")).join(file);
            match std::fs::read_to_string(&path) {
                Ok(t) => DetectorSpec::Words(
                    t.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(str::to_owned)
                        .collect(),
                ),
                Err(e) => {
                    self.error(
                        src,
                        file,
                        Some(&at),
                        format!("detector {name:?}: cannot read {}: {e}", path.display()),
                    );
                    return None;
                }
            }
        };
        let kind = d.kind.clone().unwrap_or_else(|| match &spec {
            DetectorSpec::Builtin(b) => b.name().to_owned(),
            _ => name.to_owned(),
        });
        if !Kinds::valid_name(&kind) {
            self.error(
                src,
                &at,
                Some("detectors:"),
                format!("detector {name:?}: kind {kind:?} must match [a-z][a-z0-9]{{0,15}}"),
            );
            return None;
        }
        Some(DetectorDef {
            name: name.to_owned(),
            kind: self.kinds.intern(&kind),
            spec,
        })
    }

    fn route(
        &mut self,
        src: &Source,
        r: &RouteRaw,
        detectors: &Detectors,
        used: &mut [bool],
    ) -> Option<Route> {
        let at = Some(r.name.as_str());
        let glob = r.matcher.path.clone().unwrap_or_else(|| "/**".into());
        if !glob.starts_with('/') {
            self.error(
                src,
                &glob,
                at,
                format!("route {:?}: path {glob:?} must start with '/'", r.name),
            );
        }
        let path_glob_matcher = match path_glob(&glob) {
            Ok(m) => m,
            Err(e) => {
                self.error(
                    src,
                    &glob,
                    at,
                    format!("route {:?}: path {glob:?} is not a glob: {e}", r.name),
                );
                path_glob("/**").expect("a valid glob")
            }
        };
        let methods: Vec<String> = r
            .matcher
            .methods
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        for m in &methods {
            if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].contains(&m.as_str()) {
                self.error(
                    src,
                    m,
                    at,
                    format!("route {:?}: unknown method {m:?}", r.name),
                );
            }
        }
        let mut scan = DetectorSet::empty();
        match &r.scan {
            None => {
                scan = DetectorSet::all(detectors.len());
                used.iter_mut().for_each(|u| *u = true);
            }
            Some(list) => {
                for name in list {
                    match detectors.id(name) {
                        Some(id) => {
                            scan.insert(id);
                            used[id.0 as usize] = true;
                        }
                        None if self.broken_detectors.contains(name) => {}
                        None => {
                            let (line, column) = src.locate_seq(&[&r.name, "scan:", name]);
                            self.diags.push(Diagnostic {
                                severity: Severity::Error,
                                file: src.path.clone(),
                                line,
                                column,
                                message: format!(
                                    "route {:?}: scan names unknown detector {name:?}",
                                    r.name
                                ),
                            });
                        }
                    }
                }
            }
        }
        // `kind`, `ignore`, or `ignore <detector>[, <detector>…]` (free text for the other
        // detectors of the route).
        let mut bad_ignores = Vec::new();
        let target = |kinds: &Kinds, k: &str, bad: &mut Vec<String>| -> Option<FieldTarget> {
            if k == "ignore" {
                return Some(FieldTarget::Ignore);
            }
            if let Some(list) = k.strip_prefix("ignore ") {
                let mut set = scan;
                for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    match detectors.id(name) {
                        Some(id) => set.remove(id),
                        None => bad.push(name.to_owned()),
                    }
                }
                return Some(FieldTarget::Scan(set));
            }
            kinds.get(k).map(FieldTarget::Kind)
        };
        let mut json = Vec::new();
        for (i, (expr, _)) in r.json.0.iter().enumerate() {
            if r.json.0[..i].iter().any(|(e, _)| e == expr) {
                self.error(
                    src,
                    expr,
                    at,
                    format!("route {:?}: field rule {expr:?} is listed twice", r.name),
                );
            }
        }
        for (expr, k) in r.json.iter() {
            match target(&self.kinds, k, &mut bad_ignores) {
                Some(t) => json.push((expr.clone(), t)),
                None => continue,
            }
        }
        let json = self.json_fields(src, &r.name, "", &json);
        let csv_columns = r
            .csv
            .iter()
            .filter_map(|(col, k)| {
                target(&self.kinds, k, &mut bad_ignores).map(|t| (col.clone(), t))
            })
            .collect();
        let mut html = Vec::new();
        for (sel, k) in r.html.iter() {
            let Some(t) = target(&self.kinds, k, &mut bad_ignores) else {
                continue;
            };
            let (css, attr) = match sel.split_once(" @") {
                Some((css, attr)) => (css.trim().to_owned(), Some(attr.trim().to_owned())),
                None => (sel.trim().to_owned(), None),
            };
            if let Err(e) = css.parse::<lol_html::Selector>() {
                self.error(
                    src,
                    sel,
                    at,
                    format!("route {:?}: invalid CSS selector {css:?}: {e}", r.name),
                );
                continue;
            }
            html.push((css, attr, t));
        }
        for name in bad_ignores {
            self.error(
                src,
                &name,
                at,
                format!(
                    "route {:?}: `ignore` names unknown detector {name:?}",
                    r.name
                ),
            );
        }
        let on_unknown = match r.on_unknown.as_deref() {
            None | Some("scan") => OnUnknown::Scan,
            Some("block") => OnUnknown::Block,
            Some(other) => {
                self.error(
                    src,
                    other,
                    at,
                    format!(
                        "route {:?}: on_unknown must be scan or block, not {other:?}",
                        r.name
                    ),
                );
                OnUnknown::Scan
            }
        };
        if r.passthrough && (!r.json.is_empty() || !r.csv.is_empty() || !r.html.is_empty()) {
            self.error(src, "passthrough", at, format!("route {:?}: a passthrough route masks nothing; its field rules would be ignored", r.name));
        }
        let detokenize = self.places(src, r, &glob);
        Some(Route {
            name: r.name.clone(),
            path_glob: glob,
            path_glob_matcher,
            methods,
            websocket: r.matcher.websocket,
            scan,
            fields: Arc::new(FieldRules::new(json, csv_columns, html)),
            on_unknown,
            passthrough: r.passthrough,
            detokenize: Arc::new(detokenize),
            contacts: r.contacts,
            // Resolved once the roles are compiled (see `route_roles`).
            roles: None,
        })
    }

    /// JSONPath rules compiled, or an error at the expression that does not compile (and
    /// no rules). `what` prefixes the message (`detokenize: `).
    fn json_fields(
        &mut self,
        src: &Source,
        route: &str,
        what: &str,
        rules: &[(String, FieldTarget)],
    ) -> JsonFields {
        JsonFields::compile(rules).unwrap_or_else(|e| {
            let (crate::fields::json::PathError::Parse { expr, .. }
            | crate::fields::json::PathError::Unsupported { expr, .. }) = &e;
            self.error(
                src,
                expr,
                Some(route),
                format!("route {route:?}: {what}{e}"),
            );
            JsonFields::default()
        })
    }

    /// The request places of a route where tokens turn back into values. A place in free
    /// text is warned about; any place on a route whose responses are not masked is an
    /// error (what the inbox echoes back would reach the agent in the clear).
    fn places(&mut self, src: &Source, r: &RouteRaw, glob: &str) -> RequestPlaces {
        let Some(raw) = &r.detokenize else {
            return RequestPlaces::default();
        };
        let at = Some(r.name.as_str());
        let json = raw
            .json
            .iter()
            .map(|e| (e.clone(), FieldTarget::Ignore))
            .collect::<Vec<_>>();
        let json = self.json_fields(src, &r.name, "detokenize: ", &json);
        let literal: Vec<&str> = glob.split('/').skip(1).collect();
        for &n in &raw.segments {
            let seg = n.checked_sub(1).and_then(|i| literal.get(i));
            match seg {
                None if !glob.contains("**") => self.error(
                    src,
                    "segments",
                    at,
                    format!("route {:?}: detokenize segment {n} is not in {glob:?} (segments count from 1)", r.name),
                ),
                Some(s) if !s.contains('*') && !s.contains('{') => self.error(
                    src,
                    "segments",
                    at,
                    format!("route {:?}: detokenize segment {n} is the fixed segment {s:?} of {glob:?}", r.name),
                ),
                _ => {}
            }
        }
        let named = raw
            .query
            .iter()
            .map(|q| ("query", q))
            .chain(raw.form.iter().map(|f| ("form", f)))
            .chain(raw.json.iter().map(|j| ("json", j)));
        let unmasked = r.passthrough
            || (r.scan.as_ref().is_some_and(Vec::is_empty)
                && r.json.is_empty()
                && r.csv.is_empty()
                && r.html.is_empty());
        let segments = raw.segments.iter().map(|_| ("path segment", &r.name));
        for (place, name) in named.chain(segments) {
            if unmasked {
                self.error(src, name, at, format!("route {:?}: detokenize {place} {name:?} on a route whose responses are not masked: what the inbox echoes would reach the client in the clear", r.name));
            } else if place != "path segment" && names_free_text(name) {
                self.warn(src, name, at, format!("route {:?}: detokenize {place} {name:?} is free text: a token written there reaches the inbox, and whoever it sends the text to, as the clear value", r.name));
            }
        }
        RequestPlaces {
            query: raw.query.clone(),
            form: raw.form.clone(),
            json,
            segments: raw.segments.clone(),
        }
    }

    /// The request side of a role: which kinds it may turn back, and its quota.
    fn grants(&mut self, src: &Source, name: &str, raw: &RoleRaw, kinds: &Kinds) -> RoleGrants {
        let at = format!("{name}:");
        let Some(d) = &raw.detokenize else {
            return RoleGrants::new(vec![false; kinds.len()], None);
        };
        let detokenize = self.kind_flags(src, name, "detokenize", &d.kinds, kinds);
        if d.per_hour == Some(0) {
            self.error(src, "per_hour", Some(&at), format!("role {name:?}: detokenize per_hour 0 turns nothing back; list no kinds instead"));
        }
        RoleGrants::new(detokenize, d.per_hour)
    }

    fn role_policy_of(&self, name: &str) -> Option<Arc<RolePolicy>> {
        self.compiled_roles.iter().find(|r| r.name == name).cloned()
    }

    /// A flag per kind, set for the kinds `list` names (`what`: the role's field naming
    /// them, for the error about an unknown one).
    fn kind_flags(
        &mut self,
        src: &Source,
        role: &str,
        what: &str,
        list: &[String],
        kinds: &Kinds,
    ) -> Vec<bool> {
        let at = format!("{role}:");
        let mut flags = vec![false; kinds.len()];
        for k in list {
            match kinds.get(k) {
                Some(id) => flags[id.0 as usize] = true,
                None => self.error(
                    src,
                    k,
                    Some(&at),
                    format!("role {role:?}: {what} names unknown kind {k:?}"),
                ),
            }
        }
        flags
    }

    /// A role's collection budget and export right, on top of its grants.
    fn collection(
        &mut self,
        src: &Source,
        name: &str,
        raw: &RoleRaw,
        kinds: &Kinds,
        grants: &mut RoleGrants,
    ) {
        let at = format!("{name}:");
        grants.exports = raw.exports.unwrap_or(true);
        let Some(c) = &raw.collection else {
            return;
        };
        let over = match c.over.as_deref() {
            None | Some("block") => OverBudget::Block,
            Some("mask_all") => OverBudget::MaskAll,
            Some(other) => {
                self.error(
                    src,
                    other,
                    Some(&at),
                    format!(
                        "role {name:?}: collection over must be block or mask_all, not {other:?}"
                    ),
                );
                OverBudget::Block
            }
        };
        if c.per_hour == 0 {
            self.error(src, "per_hour", Some(&at), format!("role {name:?}: a collection budget of 0 refuses every contact route; use route roles instead"));
        }
        let names = c
            .kinds
            .clone()
            .unwrap_or_else(|| vec!["phone".into(), "email".into()]);
        let mut prefixes = Vec::new();
        for k in &names {
            if kinds.get(k).is_none() {
                self.error(
                    src,
                    k,
                    Some(&at),
                    format!("role {name:?}: collection names unknown kind {k:?}"),
                );
            }
            prefixes.push(format!("vt_{k}_"));
        }
        let policy = self.role_policy_of(name);
        let tokenized = names.iter().any(|k| {
            kinds
                .get(k)
                .zip(policy.as_ref())
                .is_some_and(|(id, p)| *p.action(id) == Action::Token)
        });
        if !tokenized {
            self.warn(src, "collection", Some(&at), format!("role {name:?}: contacts are told apart by their tokens, and this role tokenizes none of {}: its budget counts nothing", names.join(", ")));
        }
        let mask_all = Arc::new(RolePolicy::new(
            format!("{name} (over its collection budget)"),
            (0..kinds.len())
                .map(|i| Action::redact_default(kinds.name(KindId(i as u16))))
                .collect(),
            vec![false; kinds.len()],
        ));
        grants.collection = Some(Collection {
            per_hour: c.per_hour,
            prefixes,
            over,
            mask_all,
        });
    }

    /// Warns about a route that can never match because an earlier one takes all its
    /// requests (same methods or a superset, a glob that covers it).
    fn overlaps(&mut self, raw: &[(&Source, &RouteRaw)], routes: &[Route]) {
        for (j, later) in routes.iter().enumerate() {
            for earlier in &routes[..j] {
                let methods_cover = earlier.methods.is_empty()
                    || (!later.methods.is_empty()
                        && later.methods.iter().all(|m| earlier.methods.contains(m)));
                let ws_cover = earlier.websocket.is_none() || earlier.websocket == later.websocket;
                let sample = later.path_glob.replace("**", "x/y").replace('*', "x");
                if methods_cover
                    && ws_cover
                    && (earlier.path_glob == later.path_glob
                        || earlier.path_glob_matcher.is_match(&sample))
                {
                    if let Some((src, r)) = raw.iter().find(|(_, r)| r.name == later.name) {
                        self.warn(src, &r.name, None, format!("route {:?} is shadowed by the earlier route {:?} (first match wins)", later.name, earlier.name));
                    }
                    break;
                }
            }
        }
    }

    fn role(&mut self, src: &Source, name: &str, raw: &RoleRaw, kinds: &Kinds) -> RolePolicy {
        let at = format!("{name}:");
        let mut actions: Vec<Option<Action>> = vec![None; kinds.len()];
        let mut wildcard: Option<Action> = None;
        let mut wildcard_redact_default = false;
        for (kind, a) in &raw.actions {
            let action = match a {
                ActionRaw::Name(n) => match n.as_str() {
                    "clear" => Action::Clear,
                    "redact" => Action::redact_default(kind),
                    "mask" => Action::Mask {
                        keep_first: 0,
                        keep_last: 4,
                        ch: '•',
                        keep_domain: false,
                    },
                    "hash" => Action::Hash,
                    "token" => Action::Token,
                    other => {
                        self.error(src, other, Some(&at), format!("role {name:?}: unknown action {other:?} for {kind:?} (clear, redact, mask, hash, token)"));
                        continue;
                    }
                },
                ActionRaw::Mask { mask } => Action::Mask {
                    keep_first: mask.keep_first.unwrap_or(0),
                    keep_last: mask.keep_last.unwrap_or(4),
                    ch: mask.ch.unwrap_or('•'),
                    keep_domain: mask.keep_domain.unwrap_or(false),
                },
                ActionRaw::Redact { redact } => Action::Redact {
                    text: redact.as_str().into(),
                },
            };
            if kind == "*" {
                wildcard = Some(action);
                wildcard_redact_default = matches!(a, ActionRaw::Name(n) if n == "redact");
            } else if let Some(id) = kinds.get(kind) {
                actions[id.0 as usize] = Some(action);
            } else {
                self.error(
                    src,
                    &format!("{kind}:"),
                    Some(&at),
                    format!(
                        "role {name:?}: unknown kind {kind:?} (no detector or field rule has it)"
                    ),
                );
            }
        }
        let reveal = self.kind_flags(src, name, "reveal", &raw.reveal, kinds);
        let mut missing = Vec::new();
        let actions = actions
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let kind = kinds.name(KindId(i as u16));
                if a.is_none() && wildcard_redact_default {
                    return Action::redact_default(kind);
                }
                a.or_else(|| wildcard.clone()).unwrap_or_else(|| {
                    missing.push(kind.to_owned());
                    Action::redact_default(kind)
                })
            })
            .collect();
        if !missing.is_empty() {
            self.warn(src, &at, Some("roles:"), format!("role {name:?} has no action for {}: they get the most restrictive one (redact)", missing.join(", ")));
        }
        RolePolicy::new(name.to_owned(), actions, reveal)
    }
}

/// A route's path glob: `*` is within one path segment, `**` any number of segments
/// (including none: `/api/**/x` takes `/api/x`), `{a,b}` either, `?` one character (globset,
/// as ripgrep reads globs). Matched against the normalized path, case-sensitively.
///
/// Refused: `**` that is not a whole segment (`/profile**`: write `/profile*` within the
/// segment, or `/{profile,profile/**}`), and empty alternatives (`{,/x}`), which older
/// veil versions read otherwise; a rule file that meant them is rejected, not re-read.
pub fn path_glob(glob: &str) -> Result<globset::GlobMatcher, String> {
    let b = glob.as_bytes();
    for (i, w) in b.windows(2).enumerate() {
        if w == b"**" {
            let before = i.checked_sub(1).map(|j| b[j]);
            let after = b.get(i + 2).copied();
            let whole = matches!(before, None | Some(b'/' | b'{' | b','))
                && matches!(after, None | Some(b'/' | b'}' | b','));
            if !whole {
                return Err("`**` must be a whole path segment (`/a/**`, `/a/**/b`); within a segment use `*`, for a path and what is under it `/{a,a/**}`".into());
            }
        }
        if matches!(w, b"{," | b",," | b",}") {
            return Err("an alternative is empty: list every form (`/{a,a/**}`)".into());
        }
    }
    Ok(globset::GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| e.kind().to_string())?
        .compile_matcher())
}

#[cfg(test)]
mod tests {
    use super::path_glob;

    #[test]
    fn path_globs_read_as_ripgrep_reads_them() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "/api/**/x",
                &["/api/x", "/api/a/x", "/api/a/b/c/x"],
                &["/api/ax", "/api/a/x/y", "/apix"],
            ),
            (
                "/api/v1/accounts/*/contacts",
                &[
                    "/api/v1/accounts/1/contacts",
                    "/api/v1/accounts/abc/contacts",
                ],
                &["/api/v1/accounts/1/2/contacts", "/api/v1/accounts/contacts"],
            ),
            ("/**", &["/", "/a", "/a/b/c"], &[]),
            (
                "/{cable,cable/**}",
                &["/cable", "/cable/x", "/cable/x/y"],
                &["/cables", "/cable2"],
            ),
            // Inside, not the folder itself (as in .gitignore).
            (
                "/api/**",
                &["/api/", "/api/a/b"],
                &["/api", "/apis", "/other/api"],
            ),
            (
                "/{webhooks,api}/**/{*wa*,*wa*/**}",
                &["/webhooks/wa", "/api/x/my-wa-hook/y"],
                &["/webhooks/x", "/other/wa"],
            ),
        ];
        for (glob, yes, no) in cases {
            let m = path_glob(glob).unwrap();
            for p in *yes {
                assert!(m.is_match(p), "{glob} should take {p}");
            }
            for p in *no {
                assert!(!m.is_match(p), "{glob} should not take {p}");
            }
        }
        for bad in [
            "/a/{b",
            "/api/v1/profile**",
            "/a/**x",
            "/a{,/b}",
            "/a/{b,}",
            "/a/{b,,c}",
        ] {
            assert!(path_glob(bad).is_err(), "{bad} is refused");
        }
    }
}
