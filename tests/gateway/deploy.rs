//! The deployment artifacts agree with the binary: every manifest in
//! `deploy/kubernetes/` parses, its labels, ports, probes and references line up,
//! every environment variable and flag it sets is one of the binary's (read from
//! the built binary's `--help`), the values parse with the gateway's own
//! configuration parser, the shutdown timing adds up, and the Dockerfile exposes
//! the same ports as a non-root distroless image.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::OnceLock,
    time::Duration,
};

use cbr_gateway::config::Config;
use clap::Parser;
use yaml_rust2::{Yaml, YamlLoader};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const GRPC_PORT_NAME: &str = "grpc";
const METRICS_PORT_NAME: &str = "metrics";
/// Files in `deploy/kubernetes/` that `kustomization.yaml` must not list.
const NOT_APPLIED: &[&str] = &["kustomization.yaml", "secret.example.yaml"];

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

struct Manifest {
    file: String,
    doc: Yaml,
}

impl Manifest {
    fn kind(&self) -> &str {
        self.doc["kind"].as_str().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.doc["metadata"]["name"].as_str().unwrap_or_default()
    }
}

/// Every YAML document of every `*.yaml` in `deploy/kubernetes/`.
fn manifests() -> &'static [Manifest] {
    static ALL: OnceLock<Vec<Manifest>> = OnceLock::new();
    ALL.get_or_init(|| {
        let dir = Path::new(ROOT).join("deploy/kubernetes");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let mut out = Vec::new();
        for path in files {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let docs = YamlLoader::load_from_str(&text)
                .unwrap_or_else(|e| panic!("{file} is not valid YAML: {e}"));
            assert!(!docs.is_empty(), "{file} holds no document");
            for doc in docs {
                out.push(Manifest {
                    file: file.clone(),
                    doc,
                });
            }
        }
        out
    })
}

fn find(kind: &str, name: &str) -> Option<&'static Manifest> {
    manifests()
        .iter()
        .find(|m| m.kind() == kind && m.name() == name)
}

/// The one manifest of this kind (besides the example Secret, kinds are unique here).
fn only(kind: &str) -> &'static Yaml {
    let all: Vec<_> = manifests().iter().filter(|m| m.kind() == kind).collect();
    assert_eq!(all.len(), 1, "expected exactly one {kind}");
    &all[0].doc
}

fn deployment() -> &'static Yaml {
    only("Deployment")
}

fn pod_spec() -> &'static Yaml {
    &deployment()["spec"]["template"]["spec"]
}

/// The gateway's container (the pod's only one).
fn container() -> &'static Yaml {
    let containers = seq(&pod_spec()["containers"]);
    assert_eq!(containers.len(), 1, "one container per pod");
    &containers[0]
}

fn seq(y: &Yaml) -> &[Yaml] {
    y.as_vec().map(Vec::as_slice).unwrap_or_default()
}

fn string_map(y: &Yaml) -> BTreeMap<String, String> {
    y.as_hash()
        .map(|h| {
            h.iter()
                .map(|(k, v)| {
                    let k = k.as_str().expect("string key").to_owned();
                    let v = match v {
                        Yaml::String(s) => s.clone(),
                        other => panic!("{k}: expected a string, found {other:?}"),
                    };
                    (k, v)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn int(y: &Yaml, what: &str) -> i64 {
    y.as_i64()
        .unwrap_or_else(|| panic!("{what}: expected an integer, found {y:?}"))
}

/// Named container ports: name → number.
fn container_ports() -> BTreeMap<String, i64> {
    seq(&container()["ports"])
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("every container port is named");
            (name.to_owned(), int(&p["containerPort"], name))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The binary's --help
// ---------------------------------------------------------------------------

struct Help {
    /// Environment variable → its long flag (`GATEWAY_LISTEN` → `--listen`).
    env_to_flag: BTreeMap<String, String>,
    flags: BTreeSet<String>,
}

/// Parses `cbr-gateway --help`: clap prints `[env: NAME=]` (or `[env: NAME]` for
/// hidden values) under each flag.
fn help() -> &'static Help {
    static HELP: OnceLock<Help> = OnceLock::new();
    HELP.get_or_init(|| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cbr-gateway"))
            .arg("--help")
            .output()
            .expect("run cbr-gateway --help");
        assert!(out.status.success(), "--help failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let mut env_to_flag = BTreeMap::new();
        let mut flags = BTreeSet::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with('-')
                && let Some(flag) = trimmed
                    .split_whitespace()
                    .map(|t| t.trim_end_matches(','))
                    .find(|t| t.starts_with("--"))
                    // `--flag[=<VALUE>]`: a switch that also takes `=true`/`=false`.
                    .map(|t| t.split(['[', '=']).next().unwrap_or(t))
            {
                flags.insert(flag.to_owned());
                current = Some(flag.to_owned());
            }
            if let Some(rest) = trimmed.strip_prefix("[env: ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| *c != '=' && *c != ']')
                    .collect();
                let flag = current.clone().expect("[env: …] follows a flag");
                env_to_flag.insert(name, flag);
            }
        }
        assert!(
            env_to_flag.get("GATEWAY_LISTEN").map(String::as_str) == Some("--listen"),
            "could not read the environment variables from --help:\n{text}"
        );
        Help { env_to_flag, flags }
    })
}

// ---------------------------------------------------------------------------
// The Dockerfile
// ---------------------------------------------------------------------------

/// The Dockerfile's instructions (continuations joined, comments dropped), split
/// into stages at each `FROM`; `ARG`s before the first `FROM` are dropped.
fn dockerfile_stages() -> Vec<Vec<(String, String)>> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    let mut logical = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
        } else {
            pending.push_str(t);
            logical.push(std::mem::take(&mut pending));
        }
    }
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    for l in logical {
        let (op, rest) = l.split_once(char::is_whitespace).unwrap_or((&l, ""));
        let op = op.to_ascii_uppercase();
        if op == "FROM" {
            stages.push(Vec::new());
        }
        if let Some(stage) = stages.last_mut() {
            stage.push((op, rest.trim().to_owned()));
        }
    }
    stages
}

/// `ENV` of the final stage: `K=V` pairs (several per instruction allowed).
fn dockerfile_env() -> BTreeMap<String, String> {
    let stages = dockerfile_stages();
    let last = stages.last().expect("a FROM");
    last.iter()
        .filter(|(op, _)| op == "ENV")
        .flat_map(|(_, rest)| {
            rest.split_whitespace()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("ENV K=V form");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The configuration the pod runs with
// ---------------------------------------------------------------------------

/// A container `env` entry's value: literal, or from the (example) Secret/ConfigMap.
/// `None` for an optional key that is absent.
fn env_value(entry: &Yaml) -> Option<String> {
    let name = entry["name"].as_str().unwrap();
    if let Some(v) = entry["value"].as_str() {
        return Some(v.to_owned());
    }
    let from = &entry["valueFrom"];
    for (kind, key) in [("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")] {
        let r = &from[key];
        if r.is_badvalue() {
            continue;
        }
        let obj = r["name"].as_str().unwrap();
        let k = r["key"].as_str().unwrap();
        let optional = r["optional"].as_bool().unwrap_or(false);
        let m = find(kind, obj)
            .unwrap_or_else(|| panic!("env {name}: {kind} {obj} is not among the manifests"));
        let data = data_of(&m.doc);
        return match data.get(k) {
            Some(v) => Some(v.clone()),
            None if optional => None,
            None => panic!("env {name}: {kind} {obj} has no key {k:?}"),
        };
    }
    panic!("env {name}: neither value nor a secretKeyRef/configMapKeyRef");
}

/// A Secret's or ConfigMap's keys and values (`stringData`/`data`; base64 data is
/// only checked for presence).
fn data_of(doc: &Yaml) -> BTreeMap<String, String> {
    let mut m = string_map(&doc["data"]);
    m.extend(string_map(&doc["stringData"]));
    m
}

/// The environment the container starts with, in Kubernetes' precedence: the
/// image's `ENV`, then `envFrom`, then `env`.
fn effective_env() -> BTreeMap<String, String> {
    let mut env = dockerfile_env();
    for from in seq(&container()["envFrom"]) {
        let name = from["configMapRef"]["name"]
            .as_str()
            .expect("envFrom uses configMapRef");
        let cm = find("ConfigMap", name)
            .unwrap_or_else(|| panic!("envFrom: ConfigMap {name} is not among the manifests"));
        env.extend(data_of(&cm.doc));
    }
    for entry in seq(&container()["env"]) {
        if let Some(v) = env_value(entry) {
            env.insert(entry["name"].as_str().unwrap().to_owned(), v);
        }
    }
    env
}

/// The gateway's configuration from the pod's environment and arguments, parsed by
/// the gateway's own parser (so values are checked as at start).
fn effective_config() -> Config {
    let help = help();
    let mut argv = vec!["cbr-gateway".to_owned()];
    for (name, value) in effective_env() {
        let flag = help
            .env_to_flag
            .get(&name)
            .unwrap_or_else(|| panic!("{name} is not an environment variable of the binary"));
        argv.push(format!("{flag}={value}"));
    }
    for a in seq(&container()["args"]) {
        argv.push(a.as_str().expect("string args").to_owned());
    }
    Config::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("the pod's configuration does not parse: {e}\n{argv:?}"))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn every_manifest_parses_and_kustomization_lists_them() {
    let ms = manifests();
    for m in ms {
        assert!(
            m.doc["apiVersion"].as_str().is_some() && !m.kind().is_empty(),
            "{}: apiVersion and kind",
            m.file
        );
        if m.kind() != "Kustomization" {
            assert!(!m.name().is_empty(), "{}: metadata.name", m.file);
            assert!(
                m.doc["metadata"]["namespace"].is_badvalue(),
                "{}: no hard-coded namespace (`kubectl apply -k … -n NS`)",
                m.file
            );
        }
    }
    let kustomization = only("Kustomization");
    let listed: BTreeSet<&str> = seq(&kustomization["resources"])
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let files: BTreeSet<&str> = ms
        .iter()
        .map(|m| m.file.as_str())
        .filter(|f| !NOT_APPLIED.contains(f))
        .collect();
    assert_eq!(
        listed, files,
        "kustomization.yaml lists every manifest but the example Secret"
    );
    // The example Secret holds placeholders only and is never applied.
    let secret = find("Secret", "cbr-gateway-credentials").expect("an example Secret");
    assert_eq!(secret.file, "secret.example.yaml");
    for (k, v) in data_of(&secret.doc) {
        assert!(
            v.contains("REPLACE_WITH_"),
            "example Secret key {k}: placeholder"
        );
    }
    // The image kustomize rewrites is the container's.
    let image = container()["image"].as_str().unwrap();
    assert!(
        seq(&kustomization["images"])
            .iter()
            .any(|i| i["name"].as_str() == Some(image)),
        "kustomization.yaml `images` rewrites {image}"
    );
}

#[test]
fn labels_and_selectors_agree() {
    let d = deployment();
    let name = d["metadata"]["name"].as_str().unwrap();
    let selector = string_map(&d["spec"]["selector"]["matchLabels"]);
    let pod_labels = string_map(&d["spec"]["template"]["metadata"]["labels"]);
    assert!(
        selector.contains_key("app.kubernetes.io/name"),
        "selector uses app.kubernetes.io/name"
    );
    let selects = |what: &str, sel: &BTreeMap<String, String>| {
        assert!(!sel.is_empty(), "{what}: empty selector");
        for (k, v) in sel {
            assert_eq!(
                pod_labels.get(k),
                Some(v),
                "{what} selects {k}={v}, which the pods do not carry"
            );
        }
    };
    selects("Deployment", &selector);
    selects("Service", &string_map(&only("Service")["spec"]["selector"]));
    let pdb = only("PodDisruptionBudget");
    selects(
        "PodDisruptionBudget",
        &string_map(&pdb["spec"]["selector"]["matchLabels"]),
    );
    for c in seq(&pod_spec()["topologySpreadConstraints"]) {
        selects(
            "topologySpreadConstraints",
            &string_map(&c["labelSelector"]["matchLabels"]),
        );
    }
    // Every object carries the same name label.
    for m in manifests().iter().filter(|m| m.kind() != "Kustomization") {
        assert_eq!(
            m.doc["metadata"]["labels"]["app.kubernetes.io/name"].as_str(),
            Some("cbr-gateway"),
            "{} {}: app.kubernetes.io/name",
            m.kind(),
            m.name()
        );
    }
    let hpa = only("HorizontalPodAutoscaler");
    let target = &hpa["spec"]["scaleTargetRef"];
    assert_eq!(target["kind"].as_str(), Some("Deployment"));
    assert_eq!(target["apiVersion"].as_str(), Some("apps/v1"));
    assert_eq!(target["name"].as_str(), Some(name));
    assert!(
        d["spec"]["replicas"].is_badvalue(),
        "no fixed replicas: the autoscaler owns them"
    );
}

#[test]
fn ports_probes_and_service_agree_with_the_binary() {
    let ports = container_ports();
    let config = effective_config();
    let grpc = ports[GRPC_PORT_NAME];
    let metrics = ports[METRICS_PORT_NAME];
    assert_eq!(
        i64::from(config.listen.port()),
        grpc,
        "GATEWAY_LISTEN/--listen port is the `grpc` container port"
    );
    let metrics_addr = config
        .metrics_listen
        .0
        .expect("the metrics endpoint is enabled");
    assert_eq!(
        i64::from(metrics_addr.port()),
        metrics,
        "METRICS_LISTEN/--metrics-listen port is the `metrics` container port"
    );
    assert!(
        config.listen.ip().is_unspecified() && metrics_addr.ip().is_unspecified(),
        "both listen on all interfaces (kubelet probes and Prometheus come from outside)"
    );

    // Native gRPC probes on the gRPC port (a number: gRPC probes take no port names).
    let c = container();
    for probe in ["readinessProbe", "livenessProbe"] {
        let p = &c[probe];
        assert!(!p.is_badvalue(), "{probe} is set");
        assert!(
            p["exec"].is_badvalue() && p["httpGet"].is_badvalue() && p["tcpSocket"].is_badvalue(),
            "{probe} is a native gRPC probe"
        );
        assert_eq!(int(&p["grpc"]["port"], probe), grpc, "{probe} port");
        // Service "" (the default) is the one the gateway reports for the whole server.
        assert!(
            matches!(p["grpc"]["service"].as_str(), None | Some("")),
            "{probe} checks service \"\""
        );
        let period = int(&p["periodSeconds"], probe);
        let timeout = int(&p["timeoutSeconds"], probe);
        assert!(timeout < period, "{probe}: timeout below period");
        assert!(
            int(&p["failureThreshold"], probe) >= 2,
            "{probe}: no hair trigger"
        );
    }

    // Prometheus scrape annotations point at the metrics endpoint.
    let ann = string_map(&deployment()["spec"]["template"]["metadata"]["annotations"]);
    assert_eq!(
        ann.get("prometheus.io/scrape").map(String::as_str),
        Some("true")
    );
    assert_eq!(ann.get("prometheus.io/port"), Some(&metrics.to_string()));
    assert_eq!(
        ann.get("prometheus.io/path").map(String::as_str),
        Some("/metrics")
    );

    // The Service: ClusterIP, `grpc` with appProtocol grpc, and every targetPort a
    // declared container port.
    let svc = &only("Service")["spec"];
    assert_eq!(svc["type"].as_str().unwrap_or("ClusterIP"), "ClusterIP");
    let mut names = BTreeSet::new();
    for p in seq(&svc["ports"]) {
        let name = p["name"].as_str().expect("Service ports are named");
        assert!(names.insert(name), "Service port names are unique");
        let target = match &p["targetPort"] {
            Yaml::String(s) => *ports
                .get(s)
                .unwrap_or_else(|| panic!("Service port {name}: no container port {s}")),
            Yaml::Integer(n) => *n,
            other => panic!("Service port {name}: targetPort {other:?}"),
        };
        assert!(
            ports.values().any(|p| *p == target),
            "Service port {name} targets a declared container port"
        );
        if target == grpc {
            assert_eq!(
                p["appProtocol"].as_str(),
                Some("grpc"),
                "{name}: appProtocol"
            );
        }
    }
    assert!(names.contains(GRPC_PORT_NAME) && names.contains(METRICS_PORT_NAME));
}

#[test]
fn environment_and_flags_exist_in_the_binary() {
    let help = help();
    let mut sources: Vec<(String, String)> = Vec::new();
    for entry in seq(&container()["env"]) {
        sources.push(("env".into(), entry["name"].as_str().unwrap().to_owned()));
    }
    // ConfigMaps injected as environment (others are mounted as files).
    let injected: BTreeSet<&str> = seq(&container()["envFrom"])
        .iter()
        .filter_map(|f| f["configMapRef"]["name"].as_str())
        .collect();
    let mut configmap_keys = BTreeSet::new();
    for m in manifests()
        .iter()
        .filter(|m| m.kind() == "ConfigMap" && injected.contains(m.name()))
    {
        for k in data_of(&m.doc).into_keys() {
            configmap_keys.insert(k.clone());
            sources.push((format!("ConfigMap {}", m.name()), k));
        }
    }
    for k in dockerfile_env().into_keys() {
        sources.push(("Dockerfile ENV".into(), k));
    }
    for (source, name) in &sources {
        assert!(
            help.env_to_flag.contains_key(name),
            "{source}: {name} is not an environment variable of cbr-gateway (see --help)"
        );
    }
    // A key in both the ConfigMap and `env` would be silently overridden.
    for entry in seq(&container()["env"]) {
        let name = entry["name"].as_str().unwrap();
        assert!(
            !configmap_keys.contains(name),
            "{name} is set both in the ConfigMap and in the Deployment's env"
        );
    }
    for list in ["args", "command"] {
        for a in seq(&container()[list]) {
            let a = a.as_str().unwrap();
            if let Some(flag) = a.strip_prefix("--") {
                let flag = format!("--{}", flag.split('=').next().unwrap());
                assert!(help.flags.contains(&flag), "{list}: {flag} is not a flag");
            }
        }
    }
    // The values parse, and the pod talks to real CBR, not the built-in
    // simulator: the region names its endpoints.
    let mut config = effective_config();
    config.apply_region().expect("the region resolves");
    assert_eq!(
        config.cbr_endpoint.as_ref().map(url::Url::as_str),
        Some("https://cbr.cn-north-4.myhuaweicloud.com/"),
        "HUAWEICLOUD_SDK_REGION is set (without it the gateway serves its simulator)"
    );
    let env = effective_env();
    assert_eq!(env.get("LOG_FORMAT").map(String::as_str), Some("json"));
    assert!(
        !env.contains_key("HUAWEICLOUD_SDK_SK"),
        "the SK comes as a file, not in the environment"
    );
}

#[test]
fn credentials_come_from_the_secret() {
    let c = container();
    let entry = |name: &str| {
        seq(&c["env"])
            .iter()
            .find(|e| e["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("env {name} is set"))
    };
    // Resolves against the example Secret (panics when the key is missing).
    let ak = entry("HUAWEICLOUD_SDK_AK");
    assert!(
        !ak["valueFrom"]["secretKeyRef"].is_badvalue(),
        "AK from a Secret"
    );
    assert!(env_value(ak).is_some());

    // The SK file lies in a read-only, whole-directory mount of a Secret volume that
    // projects exactly that key (a subPath mount would never see updates).
    let sk_file = entry("HUAWEICLOUD_SDK_SK_FILE")["value"]
        .as_str()
        .expect("HUAWEICLOUD_SDK_SK_FILE is a literal path")
        .to_owned();
    let mount = seq(&c["volumeMounts"])
        .iter()
        .find(|m| {
            let dir = m["mountPath"].as_str().unwrap().trim_end_matches('/');
            sk_file.starts_with(&format!("{dir}/"))
        })
        .unwrap_or_else(|| panic!("{sk_file} lies in a volume mount"));
    assert!(
        mount["subPath"].is_badvalue(),
        "no subPath: updates must reach the file"
    );
    assert_eq!(mount["readOnly"].as_bool(), Some(true));
    let rel = &sk_file[mount["mountPath"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .len()
        + 1..];
    let vol_name = mount["name"].as_str().unwrap();
    let volume = seq(&pod_spec()["volumes"])
        .iter()
        .find(|v| v["name"].as_str() == Some(vol_name))
        .unwrap_or_else(|| panic!("volume {vol_name} is declared"));
    let secret_name = volume["secret"]["secretName"]
        .as_str()
        .expect("the SK volume is a Secret");
    let secret = find("Secret", secret_name)
        .unwrap_or_else(|| panic!("Secret {secret_name} is among the manifests"));
    let data = data_of(&secret.doc);
    let items = seq(&volume["secret"]["items"]);
    let key = if items.is_empty() {
        rel.to_owned()
    } else {
        let item = items
            .iter()
            .find(|i| i["path"].as_str() == Some(rel))
            .unwrap_or_else(|| panic!("the Secret volume projects {rel}"));
        item["key"].as_str().unwrap().to_owned()
    };
    assert!(
        data.contains_key(&key),
        "Secret {secret_name} has key {key}"
    );
    // 0o440 at most: nobody but the owner and the fsGroup reads the key.
    let mode = volume["secret"]["defaultMode"].as_i64().unwrap_or(0o644);
    assert_eq!(
        mode & 0o337,
        0,
        "Secret file mode {mode:o} is read-only, not world-readable"
    );
    assert_eq!(
        pod_spec()["securityContext"]["fsGroup"].as_i64(),
        Some(65532)
    );

    // Every Secret, ConfigMap and ServiceAccount the pod names exists.
    for from in seq(&c["envFrom"]) {
        let name = from["configMapRef"]["name"].as_str().unwrap();
        assert!(find("ConfigMap", name).is_some(), "ConfigMap {name}");
    }
    for e in seq(&c["env"]) {
        env_value(e);
    }
    let sa = pod_spec()["serviceAccountName"]
        .as_str()
        .expect("own ServiceAccount");
    let sa = find("ServiceAccount", sa).unwrap_or_else(|| panic!("ServiceAccount {sa}"));
    assert_eq!(
        sa.doc["automountServiceAccountToken"].as_bool(),
        Some(false)
    );
    assert_eq!(
        pod_spec()["automountServiceAccountToken"].as_bool(),
        Some(false)
    );
}

#[test]
fn callers_are_judged_by_a_mounted_policy_and_their_mesh_identity() {
    use cbr_gateway::{access, rpcs};
    let config = effective_config();
    let path =
        config.access.authz_policy.clone().expect(
            "AUTHZ_POLICY is set: the pod never serves anonymous callers with its credentials",
        );
    assert!(
        config.access.trust_forwarded_identity,
        "the mesh sidecar's identity is trusted"
    );
    // The file lies in a whole-directory mount of the policy ConfigMap (a
    // subPath mount would never see updates), which holds that key.
    let path = path.to_str().unwrap().to_owned();
    let mount = seq(&container()["volumeMounts"])
        .iter()
        .find(|m| path.starts_with(&format!("{}/", m["mountPath"].as_str().unwrap())))
        .unwrap_or_else(|| panic!("{path} lies in a volume mount"));
    assert!(mount["subPath"].is_badvalue(), "no subPath");
    let volume = seq(&pod_spec()["volumes"])
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mount's volume is declared");
    let cm_name = volume["configMap"]["name"]
        .as_str()
        .expect("a ConfigMap volume");
    let cm = find("ConfigMap", cm_name).unwrap_or_else(|| panic!("ConfigMap {cm_name}"));
    let key = path.rsplit('/').next().unwrap();
    let text = data_of(&cm.doc)
        .remove(key)
        .unwrap_or_else(|| panic!("ConfigMap {cm_name} has key {key}"));
    // The gateway's own parser accepts it, and it lets no anonymous caller in.
    let policy = access::Policy::parse(text.as_bytes())
        .unwrap_or_else(|e| panic!("the example policy does not load: {e}"));
    assert!(policy.is_enforced());
    for rpc in rpcs::api() {
        assert!(
            !policy.may_call(access::ANONYMOUS, rpc),
            "anonymous may call {}",
            rpc.full_name()
        );
    }
    assert!(policy.may_call(
        "spiffe://cluster.local/ns/backup/sa/nightly",
        &rpcs::CREATE_CHECKPOINT
    ));
    // So the pod, listening on every address with cloud credentials, starts.
    access::check_exposure(access::Exposure {
        listen: config.listen,
        cloud_credentials: true,
        client_certificates: config.tls_client_ca.is_some(),
        access: &config.access_settings(),
        origins: &config.cors_allowed_origins,
    })
    .expect("the deployment passes the fail-closed check");
    assert!(
        !config.listen.ip().is_loopback(),
        "the sidecar reaches it on the pod IP"
    );
}

#[test]
fn shutdown_timing_adds_up() {
    let config = effective_config();
    let c = container();
    // distroless has no shell or `sleep`: only the native sleep action works.
    let pre_stop = &c["lifecycle"]["preStop"];
    assert!(
        pre_stop["exec"].is_badvalue(),
        "no exec preStop in a shell-less image"
    );
    let pre_stop = pre_stop["sleep"]["seconds"].as_i64().unwrap_or(0) as f64;
    let delay = secs(config.shutdown_delay);
    let grace = secs(config.shutdown_grace);
    let tgps = int(
        &pod_spec()["terminationGracePeriodSeconds"],
        "terminationGracePeriodSeconds",
    ) as f64;
    assert!(
        tgps > pre_stop + delay + grace,
        "terminationGracePeriodSeconds ({tgps}) must exceed preStop ({pre_stop}) + \
         SHUTDOWN_DELAY ({delay}) + SHUTDOWN_GRACE ({grace})"
    );
    // Some time to stop routing before the listener closes.
    assert!(
        pre_stop + delay >= 5.0,
        "at least 5 s between deletion and the listener closing"
    );
    // After SIGTERM health is NOT_SERVING, then the port closes: liveness must not
    // reach its failure threshold before the drain ends.
    let live = &c["livenessProbe"];
    let window = (int(&live["periodSeconds"], "liveness")
        * int(&live["failureThreshold"], "liveness")) as f64;
    assert!(
        window > delay + grace,
        "liveness fails after {window} s, which must exceed SHUTDOWN_DELAY + SHUTDOWN_GRACE"
    );
}

#[test]
fn security_context_is_restrictive() {
    let pod = &pod_spec()["securityContext"];
    let ctr = &container()["securityContext"];
    // The container's setting wins over the pod's.
    let eff = |k: &str| {
        if ctr[k].is_badvalue() {
            &pod[k]
        } else {
            &ctr[k]
        }
    };
    assert_eq!(eff("runAsNonRoot").as_bool(), Some(true));
    assert_eq!(eff("runAsUser").as_i64(), Some(65532));
    assert_eq!(eff("runAsGroup").as_i64(), Some(65532));
    assert_eq!(
        eff("seccompProfile")["type"].as_str(),
        Some("RuntimeDefault")
    );
    assert_eq!(ctr["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(ctr["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_ne!(ctr["privileged"].as_bool(), Some(true));
    let drop: Vec<_> = seq(&ctr["capabilities"]["drop"])
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(drop, ["ALL"]);
    assert!(
        ctr["capabilities"]["add"].is_badvalue(),
        "no capability added"
    );
    // The gateway writes nothing to disk: no writable volume.
    for v in seq(&pod_spec()["volumes"]) {
        assert!(v["emptyDir"].is_badvalue() && v["hostPath"].is_badvalue());
    }
}

#[test]
fn resources_autoscaler_and_disruption_budget_fit() {
    let r = &container()["resources"];
    for (section, key) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "cpu"),
        ("limits", "memory"),
    ] {
        assert!(
            r[section][key].as_str().is_some(),
            "resources.{section}.{key} is set"
        );
    }
    let hpa = &only("HorizontalPodAutoscaler")["spec"];
    assert_eq!(
        only("HorizontalPodAutoscaler")["apiVersion"].as_str(),
        Some("autoscaling/v2")
    );
    let min = int(&hpa["minReplicas"], "minReplicas");
    let max = int(&hpa["maxReplicas"], "maxReplicas");
    assert!(min >= 2 && max >= min, "at least two replicas");
    assert!(
        seq(&hpa["metrics"])
            .iter()
            .any(|m| m["resource"]["name"].as_str() == Some("cpu")),
        "scales on CPU (utilization is relative to the CPU request, set above)"
    );
    let pdb = &only("PodDisruptionBudget")["spec"];
    match (&pdb["minAvailable"], &pdb["maxUnavailable"]) {
        (Yaml::Integer(n), Yaml::BadValue) => {
            assert!(
                *n < min,
                "minAvailable {n} leaves room to evict one of {min}"
            )
        }
        (Yaml::BadValue, Yaml::Integer(n)) => assert!(*n >= 1 && *n < min),
        other => {
            panic!("PodDisruptionBudget: one integer minAvailable or maxUnavailable, got {other:?}")
        }
    }
}

#[test]
fn dockerfile_builds_a_small_non_root_image_with_the_same_ports() {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "multi-stage");
    let all = |op: &str| -> Vec<String> {
        stages
            .iter()
            .flatten()
            .filter(|(o, _)| o == op)
            .map(|(_, r)| r.clone())
            .collect()
    };
    // The build: locked, and every input of the package is in the context it copies.
    let builds: Vec<_> = all("RUN")
        .into_iter()
        .filter(|r| r.contains("cargo build"))
        .collect();
    assert!(!builds.is_empty());
    for b in &builds {
        assert!(b.contains("--release") && b.contains("--locked"), "{b}");
    }
    let copied: BTreeSet<String> = all("COPY")
        .iter()
        .filter(|r| !r.starts_with("--from"))
        .flat_map(|r| {
            let parts: Vec<_> = r.split_whitespace().collect();
            parts[..parts.len() - 1]
                .iter()
                .map(|s| s.trim_end_matches('/').to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let cargo_toml = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let mut needed = vec!["Cargo.toml", "Cargo.lock", "build.rs", "proto", "src"];
    if cargo_toml.contains("[[bench]]") {
        // Cargo refuses a manifest whose declared benches are missing.
        needed.push("benches");
    }
    let ignored = std::fs::read_to_string(Path::new(ROOT).join(".dockerignore")).unwrap();
    let ignored: BTreeSet<&str> = ignored
        .lines()
        .map(|l| l.trim().trim_end_matches('/'))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        ignored.contains("target"),
        ".dockerignore leaves out target/"
    );
    for n in needed {
        assert!(copied.contains(n), "the Dockerfile copies {n}");
        assert!(!ignored.contains(n), ".dockerignore keeps {n}");
    }

    // The runtime: distroless, numeric non-root user, exec-form entrypoint, no shell.
    let last = stages.last().unwrap();
    let from = &last[0].1;
    assert!(
        from.starts_with("gcr.io/distroless/") && from.ends_with(":nonroot"),
        "final stage is distroless nonroot: {from}"
    );
    assert!(
        last.iter().all(|(op, _)| op != "RUN"),
        "no RUN in the final stage (no shell there)"
    );
    let user = last
        .iter()
        .rev()
        .find(|(op, _)| op == "USER")
        .map(|(_, u)| u.clone())
        .expect("USER in the final stage");
    let uid: i64 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("numeric USER, so runAsNonRoot can verify it");
    assert_ne!(uid, 0);
    assert_eq!(
        Some(uid),
        pod_spec()["securityContext"]["runAsUser"].as_i64(),
        "the image's user is the pod's runAsUser"
    );
    let entrypoint = last
        .iter()
        .find(|(op, _)| op == "ENTRYPOINT")
        .map(|(_, e)| e.clone())
        .expect("ENTRYPOINT");
    assert!(
        entrypoint.starts_with('['),
        "exec-form ENTRYPOINT: {entrypoint}"
    );

    // EXPOSE: exactly the container's ports.
    let exposed: BTreeSet<i64> = last
        .iter()
        .filter(|(op, _)| op == "EXPOSE")
        .flat_map(|(_, r)| {
            r.split_whitespace()
                .map(|p| {
                    p.trim_end_matches("/tcp")
                        .parse::<i64>()
                        .expect("EXPOSE port")
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let declared: BTreeSet<i64> = container_ports().into_values().collect();
    assert_eq!(exposed, declared, "EXPOSE matches the container ports");
    // The image's own defaults agree with them too.
    let env = dockerfile_env();
    for (var, port) in [
        ("GATEWAY_LISTEN", GRPC_PORT_NAME),
        ("METRICS_LISTEN", METRICS_PORT_NAME),
    ] {
        if let Some(addr) = env.get(var) {
            let p: i64 = addr.rsplit(':').next().unwrap().parse().unwrap();
            assert_eq!(p, container_ports()[port], "Dockerfile {var}");
        }
    }
}

/// One YAML document of `overlays/two-regions/{file}`.
fn overlay(file: &str) -> Yaml {
    let path = Path::new(ROOT)
        .join("deploy/kubernetes/overlays/two-regions")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(docs.len(), 1, "{file} holds one document");
    docs.remove(0)
}

#[test]
fn the_two_region_overlay_patches_the_base_and_resolves_both_regions() {
    let kustomization = overlay("kustomization.yaml");
    let resources: Vec<&str> = seq(&kustomization["resources"])
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(resources, ["../..", "regions.yaml"]);
    let patches: Vec<&str> = seq(&kustomization["patches"])
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(patches, ["configmap-patch.yaml", "deployment-patch.yaml"]);

    // The settings patch targets the ConfigMap the pod's environment comes
    // from, and adds only variables of the binary.
    let settings = overlay("configmap-patch.yaml");
    let injected = seq(&container()["envFrom"])[0]["configMapRef"]["name"]
        .as_str()
        .unwrap();
    assert_eq!(settings["metadata"]["name"].as_str(), Some(injected));
    let mut env = effective_env();
    env.extend(data_of(&settings));
    for name in env.keys() {
        assert!(help().env_to_flag.contains_key(name), "{name}");
    }
    let file = Path::new(&env["HUAWEICLOUD_SDK_REGIONS_FILE"]);

    // The Deployment patch mounts the regions ConfigMap where that file is,
    // in the base's container.
    let patch = overlay("deployment-patch.yaml");
    assert_eq!(
        patch["metadata"]["name"].as_str(),
        Some(deployment()["metadata"]["name"].as_str().unwrap())
    );
    let patched = &seq(&patch["spec"]["template"]["spec"]["containers"])[0];
    assert_eq!(patched["name"], container()["name"]);
    let mount = &seq(&patched["volumeMounts"])[0];
    assert_eq!(mount["mountPath"].as_str().map(Path::new), file.parent());
    let volume = &seq(&patch["spec"]["template"]["spec"]["volumes"])[0];
    assert_eq!(volume["name"], mount["name"]);
    let regions = overlay("regions.yaml");
    assert_eq!(
        volume["configMap"]["name"].as_str(),
        regions["metadata"]["name"].as_str()
    );
    let key = file.file_name().unwrap().to_str().unwrap();
    let content = data_of(&regions)
        .remove(key)
        .unwrap_or_else(|| panic!("the regions ConfigMap has no {key}"));

    // The binary, configured as the pod is, resolves both regions: the
    // default from the SDKs' table, the second from the mounted file.
    let dir = std::env::temp_dir().join(format!("cbr-overlay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(key), content).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cbr-gateway"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HUAWEICLOUD_SDK_REGION") || k.ends_with("_ENDPOINT") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["regions", "-o", "json"])
        .env("HUAWEICLOUD_SDK_REGION", &env["HUAWEICLOUD_SDK_REGION"])
        .env("HUAWEICLOUD_SDK_REGIONS_FILE", dir.join(key))
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row = |id: &str| rows.iter().find(|r| r["region"] == id).unwrap().clone();
    let home = row("ap-southeast-1");
    assert_eq!(home["default"], true);
    assert_eq!(home["cbr"], "https://cbr.ap-southeast-1.myhuaweicloud.com/");
    let away = row("ap-southeast-3");
    assert_eq!(
        away["cbr"],
        "https://cbr.vpcep.ap-southeast-3.example.internal/"
    );
    assert_eq!(
        away["iam"],
        "https://iam.vpcep.ap-southeast-3.example.internal/"
    );
}
