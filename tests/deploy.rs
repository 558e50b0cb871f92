//! The deployment files in deploy/ against what the binary really does: every YAML
//! document parses; the example configs are valid `veil::server::config::Config`s; ports,
//! probe paths, the config path, the rules and keys mounts, the image name and the shutdown
//! timings agree between the configs, the Dockerfile, compose, Kubernetes and systemd.
//!
//! Nothing here needs a Docker engine or a cluster: it reads the files. It cannot tell
//! whether an image builds or a manifest is accepted by an API server; it catches the
//! drift that makes a deployment fail after either of those succeeded.
use serde_yaml_ng::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use veil::server::config::Config;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every document of a (possibly multi-document) YAML file, `<<:` merge keys resolved
/// as docker compose resolves them.
fn docs(rel: &str) -> Vec<Value> {
    let text = read(rel);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| {
            let mut v: Value =
                serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{rel}: {e}"));
            v.apply_merge().unwrap_or_else(|e| panic!("{rel}: {e}"));
            v
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// Every document of deploy/kubernetes/*.yaml, with the file it came from.
fn k8s_docs() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut out = Vec::new();
    for f in files {
        let rel = format!(
            "deploy/kubernetes/{}",
            f.file_name().unwrap().to_str().unwrap()
        );
        for d in docs(&rel) {
            out.push((rel.clone(), d));
        }
    }
    out
}

/// The one Kubernetes object of this kind and name.
fn k8s(kind: &str, name: &str) -> Value {
    let found: Vec<Value> = k8s_docs()
        .into_iter()
        .map(|(_, d)| d)
        .filter(|d| {
            d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name)
        })
        .collect();
    assert_eq!(found.len(), 1, "expected one {kind} {name}");
    found.into_iter().next().unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

fn seq(v: &Value) -> &Vec<Value> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a sequence: {v:?}"))
}

fn strings(v: &Value) -> Vec<String> {
    seq(v).iter().map(|x| s(x).to_owned()).collect()
}

fn port_of(addr: &str) -> u16 {
    addr.parse::<SocketAddr>()
        .unwrap_or_else(|e| panic!("{addr}: {e}"))
        .port()
}

/// The example config for compose (and systemd).
fn example_config() -> Config {
    serde_yaml_ng::from_str(&read("deploy/veil.chatwoot.yaml")).expect("deploy/veil.chatwoot.yaml")
}

/// The config inside the veil-config ConfigMap.
fn k8s_config() -> Config {
    let cm = k8s("ConfigMap", "veil-config");
    serde_yaml_ng::from_str(s(&cm["data"]["veil.yaml"])).expect("veil-config veil.yaml")
}

/// What `Config::validate` checks that needs no files: addresses, URL, resolvers, log
/// format. (`Config::load` would also require the container paths to exist here.)
fn check_config(what: &str, c: &Config) {
    port_of(&c.listen);
    port_of(&c.admin.listen);
    let up = c
        .upstream_settings()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        !up.https,
        "{what}: the inbox is plain http on the private network"
    );
    assert!(
        c.listen.starts_with("0.0.0.0:"),
        "{what}: a container must listen on every interface"
    );
    assert!(
        c.admin.listen.starts_with("0.0.0.0:"),
        "{what}: probes and Prometheus reach the admin port from outside the container"
    );
    assert!(c.rules.is_absolute() && c.keys.as_ref().is_some_and(|k| k.is_absolute()));
    assert_eq!(c.log.format, "json", "{what}");
    assert!(
        !c.roles.resolvers.is_empty(),
        "{what}: a resolver example is expected"
    );
    for r in &c.roles.resolvers {
        if let veil::server::config::ResolverConfig::TrustedHeader {
            header,
            trusted_peers,
            map,
            ..
        } = r
        {
            assert!(http::HeaderName::from_bytes(header.as_bytes()).is_ok());
            for p in trusted_peers {
                let net = p.0;
                // Trusting everyone would let any client pick its own role.
                assert!(net.prefix_len() > 0, "{what}: {p} trusts every address");
            }
            // The roles named must exist in the shipped rules, or a reload is refused.
            let (rules, _) = veil::rules::load_dir(&root().join("rules")).unwrap();
            for role in map.values() {
                assert!(
                    rules.role(role).is_some(),
                    "{what}: role {role} is not defined"
                );
            }
        }
    }
}

#[test]
fn example_configs_parse_and_agree() {
    let compose = example_config();
    let kube = k8s_config();
    check_config("deploy/veil.chatwoot.yaml", &compose);
    check_config("veil-config", &kube);
    // The same container image serves both: the same ports and paths.
    assert_eq!(compose.listen, kube.listen);
    assert_eq!(compose.admin.listen, kube.admin.listen);
    assert_eq!(compose.rules, kube.rules);
    assert_eq!(compose.keys, kube.keys);
    assert_eq!(compose.upstream.url, kube.upstream.url);
    assert_eq!(port_of(&compose.listen), 8080);
    assert_eq!(port_of(&compose.admin.listen), 9090);
    // The image ships the rules where the config looks for them.
    let dockerfile = read("deploy/Dockerfile");
    assert!(dockerfile.contains(&format!("COPY rules {}\n", compose.rules.display())));
}

#[test]
fn dockerfile_matches_the_binary() {
    let d = read("deploy/Dockerfile");
    let c = example_config();
    let line = |prefix: &str| -> String {
        d.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("Dockerfile: no {prefix}"))
            .to_owned()
    };
    assert_eq!(
        line("EXPOSE "),
        format!("EXPOSE {} {}", port_of(&c.listen), port_of(&c.admin.listen))
    );
    assert_eq!(line("ENTRYPOINT "), r#"ENTRYPOINT ["veil"]"#);
    assert_eq!(
        line("CMD "),
        r#"CMD ["serve", "--config", "/etc/veil/veil.yaml"]"#
    );
    assert!(d.contains("cargo build --release --locked"));
    assert!(d.contains("FROM rust:1-slim-bookworm AS builder"));
    assert!(d.contains("gcr.io/distroless/cc-debian12:nonroot"));
    // distroless has no curl: a HEALTHCHECK instruction could never pass.
    assert!(!d.lines().any(|l| l.starts_with("HEALTHCHECK")));
    let ignore = read(".dockerignore");
    for entry in ["target/", "fuzz/target/", ".git/", "deploy/keys/"] {
        assert!(ignore.lines().any(|l| l == entry), ".dockerignore: {entry}");
    }
}

fn compose() -> Value {
    let d = docs("deploy/compose.yaml");
    assert_eq!(d.len(), 1);
    d.into_iter().next().unwrap()
}

/// Container-side port of a compose `ports:` entry ("8080:8080", "127.0.0.1:80:8080/tcp"
/// or the long form).
fn compose_target_port(p: &Value) -> u16 {
    if let Some(t) = p["target"].as_u64() {
        return t as u16;
    }
    let text = match p {
        Value::Number(n) => n.to_string(),
        _ => s(p).to_owned(),
    };
    let last = text.rsplit(':').next().unwrap();
    last.split('/').next().unwrap().parse().unwrap()
}

#[test]
fn compose_exposes_only_veil() {
    let c = compose();
    let cfg = example_config();
    let services = c["services"].as_mapping().unwrap();
    for (name, svc) in services {
        if s(name) != "veil" {
            assert!(
                svc.get("ports").is_none(),
                "compose: {} publishes a port; only veil may",
                s(name)
            );
        }
    }
    let veil = &c["services"]["veil"];
    let published: Vec<u16> = seq(&veil["ports"])
        .iter()
        .map(compose_target_port)
        .collect();
    assert_eq!(published, vec![port_of(&cfg.listen)], "only the proxy port");

    // The command, and the config mounted where it points.
    let cmd = strings(&veil["command"]);
    assert_eq!(cmd[..2], ["serve", "--config"]);
    let mounts: Vec<(String, String, bool)> = seq(&veil["volumes"])
        .iter()
        .map(|v| {
            let parts: Vec<&str> = s(v).split(':').collect();
            (
                parts[0].to_owned(),
                parts[1].to_owned(),
                parts.get(2) == Some(&"ro"),
            )
        })
        .collect();
    let mount_of = |target: &str| {
        mounts
            .iter()
            .find(|(_, t, _)| t == target)
            .unwrap_or_else(|| panic!("compose: nothing mounted at {target}"))
    };
    let (src, _, ro) = mount_of(&cmd[2]);
    assert_eq!(src, "./veil.chatwoot.yaml");
    assert!(ro);
    let (src, _, ro) = mount_of(cfg.rules.to_str().unwrap());
    assert_eq!(src, "../rules");
    assert!(ro);
    let keys_dir = cfg.keys.as_ref().unwrap().parent().unwrap();
    let (_, _, ro) = mount_of(keys_dir.to_str().unwrap());
    assert!(ro, "the keys are mounted read-only");
    assert!(
        mounts.iter().all(|(_, _, ro)| *ro),
        "veil mounts are all read-only"
    );

    // The upstream host is a service (or alias) on a network veil shares, and that
    // service serves on the upstream port.
    let up = cfg.upstream_settings().unwrap();
    let veil_nets = strings(&veil["networks"]);
    let (rails_name, rails) = services
        .iter()
        .find(|(name, svc)| {
            s(name) == up.host
                || svc["networks"].as_mapping().is_some_and(|nets| {
                    nets.iter().any(|(net, n)| {
                        veil_nets.contains(&s(net).to_owned())
                            && n["aliases"]
                                .as_sequence()
                                .is_some_and(|a| a.iter().any(|a| s(a) == up.host))
                    })
                })
        })
        .unwrap_or_else(|| panic!("compose: no service answers to {}", up.host));
    assert_eq!(s(rails_name), "rails");
    assert_eq!(s(&rails["image"]), "chatwoot/chatwoot:v4.9.1");
    let rails_cmd = strings(&rails["command"]);
    let port_at = rails_cmd.iter().position(|a| a == "-p").unwrap() + 1;
    assert_eq!(
        rails_cmd[port_at],
        up.authority.rsplit(':').next().unwrap(),
        "rails listens on the upstream port"
    );
    assert_eq!(
        s(&services[&Value::from("sidekiq")]["image"]),
        "chatwoot/chatwoot:v4.9.1"
    );

    // The inbox network is internal; the datastores are only on it and report health.
    assert_eq!(c["networks"]["inbox"]["internal"].as_bool(), Some(true));
    for db in ["postgres", "redis"] {
        let svc = &c["services"][db];
        assert_eq!(strings(&svc["networks"]), ["inbox"], "{db}");
        assert!(
            svc["healthcheck"]["test"].is_sequence(),
            "{db}: healthcheck"
        );
        assert_eq!(
            s(&rails["depends_on"][db]["condition"]),
            "service_healthy",
            "rails waits for {db}"
        );
    }
    assert_eq!(
        s(&c["services"]["postgres"]["image"]),
        "pgvector/pgvector:pg16"
    );
    assert_eq!(s(&c["services"]["redis"]["image"]), "redis:7-alpine");
    for svc in ["rails", "sidekiq"] {
        assert_eq!(s(&c["services"][svc]["env_file"]), "chatwoot.env");
    }

    // SIGTERM drains for shutdown_grace; compose must wait longer before SIGKILL.
    let stop = humantime::parse_duration(s(&veil["stop_grace_period"])).unwrap();
    assert!(stop > cfg.limits.shutdown_grace);
}

#[test]
fn kubernetes_deployment_matches_the_config() {
    let cfg = k8s_config();
    let dep = k8s("Deployment", "veil");
    let pod = &dep["spec"]["template"]["spec"];
    let containers = seq(&pod["containers"]);
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(dep["spec"]["replicas"].as_u64(), Some(2));

    // Ports by name, as the probes and Services refer to them.
    let port = |name: &str| -> u16 {
        seq(&c["ports"])
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("no container port {name}")) as u16
    };
    assert_eq!(port("http"), port_of(&cfg.listen));
    assert_eq!(port("admin"), port_of(&cfg.admin.listen));
    let probe_port = |probe: &Value| -> u16 {
        let p = &probe["httpGet"]["port"];
        p.as_u64().map_or_else(|| port(s(p)), |n| n as u16)
    };
    assert_eq!(s(&c["readinessProbe"]["httpGet"]["path"]), "/readyz");
    assert_eq!(s(&c["livenessProbe"]["httpGet"]["path"]), "/healthz");
    assert_eq!(probe_port(&c["readinessProbe"]), port_of(&cfg.admin.listen));
    assert_eq!(probe_port(&c["livenessProbe"]), port_of(&cfg.admin.listen));

    // Mounts: name -> (mountPath, volume).
    let mount = |vol: &str| -> (String, Value) {
        let m = seq(&c["volumeMounts"])
            .iter()
            .find(|m| m["name"].as_str() == Some(vol))
            .unwrap_or_else(|| panic!("no mount of {vol}"));
        assert_eq!(m["readOnly"].as_bool(), Some(true), "{vol} is read-only");
        assert!(m.get("subPath").is_none(), "{vol}: subPath never updates");
        let v = seq(&pod["volumes"])
            .iter()
            .find(|v| v["name"].as_str() == Some(vol))
            .unwrap()
            .clone();
        (s(&m["mountPath"]).to_owned(), v)
    };

    // `serve --config P`, and P is the veil.yaml key of the mounted veil-config.
    let args = strings(&c["args"]);
    assert_eq!(args.len(), 3);
    assert_eq!(args[..2], ["serve", "--config"]);
    let (config_dir, config_vol) = mount("config");
    assert_eq!(s(&config_vol["configMap"]["name"]), "veil-config");
    assert_eq!(args[2], format!("{config_dir}/veil.yaml"));
    // Mounting the config over /etc/veil would hide the rules and keys below it.
    for other in [&cfg.rules, cfg.keys.as_ref().unwrap()] {
        assert!(
            !other.starts_with(&config_dir),
            "{config_dir} hides {other:?}"
        );
    }

    let (rules_dir, rules_vol) = mount("rules");
    assert_eq!(Path::new(&rules_dir), cfg.rules);
    let generated = kustomization()["configMapGenerator"][0]["name"].clone();
    assert_eq!(s(&rules_vol["configMap"]["name"]), s(&generated));

    let keys = cfg.keys.clone().unwrap();
    let (keys_dir, keys_vol) = mount("keys");
    assert_eq!(Path::new(&keys_dir), keys.parent().unwrap());
    let secret_name = s(&keys_vol["secret"]["secretName"]);
    let secret = k8s("Secret", secret_name);
    let key_file = keys.file_name().unwrap().to_str().unwrap();
    assert!(
        secret["stringData"][key_file].is_string(),
        "the Secret holds {key_file}"
    );

    // Non-root, read-only, no capabilities.
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(pod["securityContext"]["runAsUser"].as_u64(), Some(65532));
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());

    // SIGTERM arrives after preStop; then veil drains for shutdown_grace.
    let pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap_or(0);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        Duration::from_secs(grace - pre_stop) > cfg.limits.shutdown_grace,
        "terminationGracePeriodSeconds leaves no room for shutdown_grace"
    );
}

#[test]
fn kubernetes_services_policies_and_scaling() {
    let cfg = k8s_config();
    let svc = k8s("Service", "veil");
    let ports = seq(&svc["spec"]["ports"]);
    assert_eq!(
        ports.len(),
        1,
        "the proxy Service carries the proxy port only"
    );
    assert_eq!(ports[0]["port"].as_u64(), Some(port_of(&cfg.listen).into()));
    assert_eq!(s(&ports[0]["targetPort"]), "http");
    assert_eq!(s(&svc["spec"]["type"]), "ClusterIP");

    let metrics = k8s("Service", "veil-metrics");
    let ann = &metrics["metadata"]["annotations"];
    assert_eq!(s(&ann["prometheus.io/scrape"]), "true");
    assert_eq!(s(&ann["prometheus.io/path"]), "/metrics");
    let admin = port_of(&cfg.admin.listen);
    assert_eq!(s(&ann["prometheus.io/port"]), admin.to_string());
    assert_eq!(s(&metrics["spec"]["ports"][0]["targetPort"]), "admin");

    // Both Services, the PDB and the HPA select or target the Deployment's pods.
    let dep = k8s("Deployment", "veil");
    let labels = &dep["spec"]["template"]["metadata"]["labels"];
    for sel in [
        &svc["spec"]["selector"],
        &metrics["spec"]["selector"],
        &k8s("PodDisruptionBudget", "veil")["spec"]["selector"]["matchLabels"],
    ] {
        for (k, v) in sel.as_mapping().unwrap() {
            assert_eq!(&labels[s(k)], v, "selector {k:?}");
        }
    }
    let pdb = k8s("PodDisruptionBudget", "veil");
    assert_eq!(pdb["spec"]["minAvailable"].as_u64(), Some(1));
    let hpa = k8s("HorizontalPodAutoscaler", "veil");
    assert_eq!(s(&hpa["apiVersion"]), "autoscaling/v2");
    assert_eq!(s(&hpa["spec"]["scaleTargetRef"]["name"]), "veil");
    let target = &hpa["spec"]["metrics"][0]["resource"];
    assert_eq!(s(&target["name"]), "cpu");
    assert_eq!(target["target"]["averageUtilization"].as_u64(), Some(70));
    assert!(hpa["spec"]["minReplicas"].as_u64() >= dep["spec"]["replicas"].as_u64());

    // Chatwoot's web pods accept only veil, on the port veil's upstream uses.
    let up = cfg.upstream_settings().unwrap();
    let up_port: u64 = up.authority.rsplit(':').next().unwrap().parse().unwrap();
    let inbox = k8s("NetworkPolicy", "chatwoot-web-from-veil-only");
    let rule = &inbox["spec"]["ingress"][0];
    assert_eq!(seq(&inbox["spec"]["ingress"]).len(), 1);
    assert_eq!(rule["ports"][0]["port"].as_u64(), Some(up_port));
    assert_eq!(
        rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        labels["app.kubernetes.io/name"]
    );
    let veil = k8s("NetworkPolicy", "veil");
    let ingress_ports: Vec<u64> = seq(&veil["spec"]["ingress"])
        .iter()
        .flat_map(|r| seq(&r["ports"]).iter().map(|p| p["port"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        ingress_ports,
        [u64::from(port_of(&cfg.listen)), u64::from(admin)]
    );
    let admin_rule = &veil["spec"]["ingress"][1];
    assert_eq!(
        s(&admin_rule["from"][0]["namespaceSelector"]["matchLabels"]
            ["kubernetes.io/metadata.name"]),
        "monitoring"
    );
    assert!(seq(&veil["spec"]["egress"])
        .iter()
        .any(|r| r["ports"][0]["port"].as_u64() == Some(up_port)));
    // The upstream host is a Service name (a DNS-1035 label) in veil's namespace.
    assert!(up
        .host
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
}

fn kustomization() -> Value {
    let d = docs("deploy/kubernetes/kustomization.yaml");
    d.into_iter().next().unwrap()
}

#[test]
fn kustomization_ties_everything_together() {
    let k = kustomization();
    let resources = strings(&k["resources"]);
    let mut expected: Vec<String> = std::fs::read_dir(root().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        // secret.yaml is a placeholder: applying it would overwrite the real keys.
        .filter(|n| n != "kustomization.yaml" && n != "secret.yaml")
        .collect();
    expected.sort();
    let mut got = resources.clone();
    got.sort();
    assert_eq!(got, expected);

    // Every shipped rule file is in the generated ConfigMap, under a key that keeps the
    // packs' order (veil reads the folder sorted by path).
    let gen = &k["configMapGenerator"][0];
    let files = strings(&gen["files"]);
    let rules_dir = root().join("rules");
    let on_disk = veil::rules::compile::rule_files(&rules_dir).unwrap();
    let mut sources = Vec::new();
    let mut keys = Vec::new();
    for f in &files {
        let (key, src) = f.split_once('=').expect("key=path");
        assert!(!key.contains('/'), "ConfigMap keys cannot hold /");
        keys.push(key.to_owned());
        let path = root().join("deploy/kubernetes").join(src);
        sources.push(path.canonicalize().unwrap_or_else(|e| panic!("{src}: {e}")));
    }
    let on_disk: Vec<PathBuf> = on_disk.iter().map(|p| p.canonicalize().unwrap()).collect();
    assert_eq!(sources, on_disk, "configMapGenerator lists every rule file");
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, keys, "the flattened names keep the packs' order");

    // The image kustomize sets is the one the Deployment and compose use.
    let dep = k8s("Deployment", "veil");
    let image = s(&dep["spec"]["template"]["spec"]["containers"][0]["image"]).to_owned();
    let (repo, tag) = image.rsplit_once(':').unwrap();
    assert_eq!(s(&k["images"][0]["name"]), repo);
    assert_eq!(s(&k["images"][0]["newTag"]), tag);
    assert_eq!(
        tag,
        env!("CARGO_PKG_VERSION"),
        "the image tag is the crate version"
    );
    assert_eq!(s(&compose()["services"]["veil"]["image"]), image);
}

#[test]
fn kubernetes_objects_are_well_formed() {
    for (file, d) in k8s_docs() {
        if file.ends_with("kustomization.yaml") {
            continue;
        }
        assert!(d["apiVersion"].is_string(), "{file}: apiVersion");
        assert!(d["kind"].is_string(), "{file}: kind");
        assert!(d["metadata"]["name"].is_string(), "{file}: metadata.name");
    }
}

#[test]
fn no_secret_is_committed() {
    // The Secret's value is a placeholder that veil refuses as a key.
    let secret = k8s("Secret", "veil-keys");
    let text = s(&secret["stringData"]["keys.txt"]);
    assert!(text.contains("REPLACE_WITH"));
    assert!(veil::engine::token::KeyRing::parse(text).is_err());
    for f in ["deploy/.env.example", "deploy/chatwoot.env.example"] {
        for line in read(f)
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
        {
            let (k, v) = line.split_once('=').unwrap();
            if k.contains("PASSWORD") || k.contains("SECRET") {
                assert_eq!(v, "CHANGE_ME", "{f}: {k}");
            }
        }
    }
    let ignore = read("deploy/.gitignore");
    for entry in [".env", "chatwoot.env", "keys/"] {
        assert!(
            ignore.lines().any(|l| l == entry),
            "deploy/.gitignore: {entry}"
        );
    }
}

/// `key=value` lines of the [Service] section (repeated keys kept in order).
fn systemd_service() -> Vec<(String, String)> {
    let text = read("deploy/systemd/veil.service");
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if section == "[Service]" && !line.starts_with('#') {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.to_owned(), v.to_owned()));
            }
        }
    }
    out
}

#[test]
fn systemd_unit_is_sandboxed() {
    let unit = systemd_service();
    let get = |key: &str| -> &str {
        unit.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("veil.service: no {key}="))
    };
    assert_eq!(
        get("ExecStart"),
        "/usr/local/bin/veil serve --config /etc/veil/veil.yaml"
    );
    assert_eq!(get("ExecReload"), "/bin/kill -HUP $MAINPID");
    for (k, v) in [
        ("Type", "simple"),
        ("Restart", "on-failure"),
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        // Empty: the example ports are above 1024; nothing to bind that needs root.
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallFilter", "@system-service"),
        ("ReadOnlyPaths", "/etc/veil"),
        ("MemoryDenyWriteExecute", "yes"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(get(k), v, "veil.service: {k}");
    }
    assert!(get("LimitNOFILE").parse::<u64>().unwrap() >= 2 * 10_000);
    let cfg = example_config();
    assert!(port_of(&cfg.listen) >= 1024 && port_of(&cfg.admin.listen) >= 1024);
    let stop = humantime::parse_duration(get("TimeoutStopSec")).unwrap();
    assert!(
        stop > cfg.limits.shutdown_grace,
        "systemd must wait out the drain"
    );
}

#[test]
fn shipped_rules_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["check", "--rules", "rules"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "veil check --rules rules:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
}

/// A ConfigMap volume as the kubelet lays it out: the files live in a timestamped
/// folder, `..data` links to it, and each key is a link through `..data`. veil must read
/// each rule once, not three times (which would fail with "defined twice").
#[test]
fn rules_load_from_a_configmap_volume() {
    let dir = std::env::temp_dir().join(format!("veil-cm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let stamp = dir.join("..2025_01_01_00_00_00.000000001");
    std::fs::create_dir_all(&stamp).unwrap();
    let k = kustomization();
    for f in strings(&k["configMapGenerator"][0]["files"]) {
        let (key, src) = f.split_once('=').unwrap();
        std::fs::copy(root().join("deploy/kubernetes").join(src), stamp.join(key)).unwrap();
        std::os::unix::fs::symlink(format!("..data/{key}"), dir.join(key)).unwrap();
    }
    std::os::unix::fs::symlink(stamp.file_name().unwrap(), dir.join("..data")).unwrap();
    let loaded = veil::rules::load_dir(&dir);
    let direct = veil::rules::load_dir(&root().join("rules")).unwrap().0;
    std::fs::remove_dir_all(&dir).unwrap();
    let (set, _) = loaded.unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(set.files.len(), direct.files.len());
    assert_eq!(set.routes.len(), direct.routes.len());
    assert_eq!(set.detectors.len(), direct.detectors.len());
}

/// The alert rules parse, and every metric they name is one veil exports.
#[test]
fn alert_rules_name_only_metrics_veil_exports() {
    let text = read("deploy/prometheus/veil.rules.yaml");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("the rules parse");
    let metrics = read("src/metrics.rs");
    let name = regex::Regex::new(r"\bveil_[a-z_]+").unwrap();
    let mut alerts = 0;
    for group in doc["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let expr = rule["expr"].as_str().expect("expr");
            assert!(rule["alert"].as_str().is_some(), "{rule:?}");
            let names: Vec<&str> = name.find_iter(expr).map(|m| m.as_str()).collect();
            assert!(!names.is_empty(), "{expr}");
            for n in names {
                assert!(
                    metrics.contains(&format!("\"{n}\"")),
                    "{n} is not a veil metric"
                );
            }
            alerts += 1;
        }
    }
    assert!(alerts >= 3);
    assert!(text.contains("veil_collection_over_total"));
}
