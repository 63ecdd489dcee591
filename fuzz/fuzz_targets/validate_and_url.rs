//! Request validation and upstream URL building.
//!
//! Arbitrary proto requests go through every `validate::check_*`; whatever is
//! accepted must obey the rules and build its upstream URL (`upstream::paths`)
//! under the endpoint's scheme, host, port and path prefix, every segment
//! percent-encoded and decoding back to its input, the query strictly encoded,
//! decoding to `backup_query_pairs` and already canonical for signing.
//! StreamBackups must judge its filters exactly as ListBackups does.
//! `paths::build` and `paths::encode_query` are also fed raw strings: any
//! segment is either refused or kept, encoded, as exactly one segment.
//! Nothing may panic.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use cbr_gateway::{
    convert, proto as pb,
    upstream::paths::{self, PathError},
    validate::{self, BackupQuery},
};
use cbr_signer as signing;
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use prost_types::Timestamp;
use url::Url;

const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Values that matter to the rules, and hostile ones.
const KNOWN: &[&str] = &[
    "OS::Nova::Server",
    "OS::Cinder::Volume",
    "OS::Ironic::BareMetalServer",
    "OS::Native::Server",
    "OS::Sfs::Turbo",
    "OS::Workspace::DesktopV2",
    "created_at",
    "updated_at:asc",
    "name:desc,id",
    "status,protected_at:asc",
    ".",
    "..",
    "%2e%2e",
    "a/b",
    "a?b",
    "a#b",
    "a\tb",
    "\t",
    "a\nb",
    "\r",
    "a b",
    "é",
    "a\\b",
    "8b0851a8-adf3-4f4c-a914-dead08bf9664",
    "{8b0851a8-adf3-4f4c-a914-dead08bf9664}",
];

/// A string: empty, a valid ID, a known value, or anything.
#[derive(Debug, Clone)]
struct S(String);

impl<'a> Arbitrary<'a> for S {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(S(match u.int_in_range(0..=7u8)? {
            0 => String::new(),
            1..=3 => {
                let len = u.int_in_range(1..=66usize)?;
                let mut s = String::with_capacity(len);
                for _ in 0..len {
                    s.push(char::from(*u.choose(ID_CHARS)?));
                }
                s
            }
            4 => (*u.choose(KNOWN)?).to_owned(),
            5 => "x".repeat(u.int_in_range(254..=257usize)?),
            _ => String::arbitrary(u)?,
        }))
    }
}

/// A number near the rules' bounds, or anything.
#[derive(Debug, Clone, Copy)]
struct N(i32);

impl<'a> Arbitrary<'a> for N {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(N(match u.int_in_range(0..=3u8)? {
            0 => u.int_in_range(-2..=16)?,
            1 => u.int_in_range(95..=105)?,
            2 => u.int_in_range(995..=1005)?,
            _ => i32::arbitrary(u)?,
        }))
    }
}

/// A time filter: a whole second in range, a bound, or anything.
#[derive(Debug, Clone, Copy)]
struct T(Timestamp);

impl<'a> Arbitrary<'a> for T {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const MIN: i64 = -62_135_596_800;
        const MAX: i64 = 253_402_300_799;
        let (seconds, nanos) = match u.int_in_range(0..=2u8)? {
            0 => (u.int_in_range(MIN..=MAX)?, 0),
            1 => (
                *u.choose(&[MIN - 1, MIN, MAX, MAX + 1, i64::MIN, i64::MAX])?,
                0,
            ),
            _ => (i64::arbitrary(u)?, i32::arbitrary(u)?),
        };
        Ok(T(Timestamp { seconds, nanos }))
    }
}

fn s(v: &S) -> String {
    v.0.clone()
}

fn n(v: Option<N>) -> Option<i32> {
    v.map(|N(v)| v)
}

fn t(v: Option<T>) -> Option<Timestamp> {
    v.map(|T(v)| v)
}

#[derive(Arbitrary, Debug)]
struct ListReq {
    project_id: S,
    checkpoint_id: S,
    dec: Option<bool>,
    end_time: Option<T>,
    image_type: N,
    limit: Option<N>,
    marker: S,
    name: S,
    offset: Option<N>,
    resource_az: S,
    resource_id: S,
    resource_name: S,
    resource_type: S,
    sort: S,
    start_time: Option<T>,
    status: Vec<N>,
    vault_id: S,
    enterprise_project_id: S,
    own_type: N,
    member_status: N,
    parent_id: S,
    used_percent: Option<N>,
    show_replication: Option<bool>,
    incremental: Option<bool>,
}

impl ListReq {
    fn proto(&self) -> pb::ListBackupsRequest {
        pb::ListBackupsRequest {
            project_id: s(&self.project_id),
            checkpoint_id: s(&self.checkpoint_id),
            dec: self.dec,
            end_time: t(self.end_time),
            image_type: self.image_type.0,
            limit: n(self.limit),
            marker: s(&self.marker),
            name: s(&self.name),
            offset: n(self.offset),
            resource_az: s(&self.resource_az),
            resource_id: s(&self.resource_id),
            resource_name: s(&self.resource_name),
            resource_type: s(&self.resource_type),
            sort: s(&self.sort),
            start_time: t(self.start_time),
            status: self.status.iter().map(|v| v.0).collect(),
            vault_id: s(&self.vault_id),
            enterprise_project_id: s(&self.enterprise_project_id),
            own_type: self.own_type.0,
            member_status: self.member_status.0,
            parent_id: s(&self.parent_id),
            used_percent: n(self.used_percent),
            show_replication: self.show_replication,
            incremental: self.incremental,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Volume {
    id: S,
    os_version: Option<S>,
}

#[derive(Arbitrary, Debug)]
struct Res {
    id: S,
    kind: S,
    name: Option<S>,
    extra: Option<(Vec<S>, Vec<Volume>)>,
}

#[derive(Arbitrary, Debug)]
struct Params {
    auto_trigger: Option<bool>,
    description: Option<S>,
    incremental: Option<bool>,
    name: Option<S>,
    resources: Vec<S>,
    resource_details: Vec<Res>,
    /// Repeats the details this many times (past the 256 limit).
    repeat: u8,
    policy_id: Option<S>,
    retention_duration_days: Option<N>,
}

#[derive(Arbitrary, Debug)]
struct CreateReq {
    project_id: S,
    vault_id: S,
    parameters: Option<Params>,
    request_id: S,
}

impl CreateReq {
    fn proto(&self) -> pb::CreateCheckpointRequest {
        pb::CreateCheckpointRequest {
            project_id: s(&self.project_id),
            vault_id: s(&self.vault_id),
            parameters: self.parameters.as_ref().map(|p| {
                let details: Vec<pb::Resource> = p
                    .resource_details
                    .iter()
                    .map(|r| pb::Resource {
                        id: s(&r.id),
                        r#type: s(&r.kind),
                        name: r.name.as_ref().map(s),
                        extra_info: r.extra.as_ref().map(|(ex, inc)| pb::ResourceExtraInfo {
                            exclude_volumes: ex.iter().map(s).collect(),
                            include_volumes: inc
                                .iter()
                                .map(|v| pb::IncludeVolume {
                                    id: s(&v.id),
                                    os_version: v.os_version.as_ref().map(s),
                                })
                                .collect(),
                        }),
                    })
                    .collect();
                let times = if details.is_empty() {
                    1
                } else {
                    1 + usize::from(p.repeat)
                };
                pb::CheckpointParameters {
                    auto_trigger: p.auto_trigger,
                    description: p.description.as_ref().map(s),
                    incremental: p.incremental,
                    name: p.name.as_ref().map(s),
                    resources: p.resources.iter().map(s).collect(),
                    resource_details: std::iter::repeat_n(details, times).flatten().collect(),
                    policy_id: p.policy_id.as_ref().map(s),
                    retention_duration_days: n(p.retention_duration_days),
                }
            }),
            request_id: s(&self.request_id),
        }
    }
}

/// An endpoint the configuration could hold.
#[derive(Arbitrary, Debug)]
struct Endpoint {
    https: bool,
    host: u8,
    port: Option<u16>,
    prefix: Vec<S>,
    slash: bool,
}

impl Endpoint {
    fn url(&self) -> Url {
        const HOSTS: &[&str] = &[
            "cbr.example.com",
            "127.0.0.1",
            "[::1]",
            "xn--bcher-kva.example",
        ];
        let mut raw = format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            HOSTS[usize::from(self.host) % HOSTS.len()]
        );
        if let Some(p) = self.port {
            raw.push_str(&format!(":{p}"));
        }
        for seg in self.prefix.iter().take(3) {
            raw.push('/');
            raw.push_str(&percent_encoding::utf8_percent_encode(&seg.0, paths::STRICT).to_string());
        }
        if self.slash {
            raw.push('/');
        }
        Url::parse(&raw)
            .ok()
            .filter(|u| u.query().is_none() && u.fragment().is_none())
            .unwrap_or_else(|| Url::parse("https://cbr.example.com").expect("a valid URL"))
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Get { project_id: S, id: S },
    List(ListReq),
    Stream(ListReq),
    Create(CreateReq),
    Build(Vec<S>),
    Query(Vec<(String, String)>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    endpoint: Endpoint,
    /// The configured default project; the configuration only takes valid IDs.
    default_project: Option<S>,
    op: Op,
}

fn is_encoded_segment(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.iter().enumerate().all(|(i, &c)| match c {
        b'%' => b
            .get(i + 1..i + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
        b'/' | b'?' | b'#' => false,
        _ => c.is_ascii_graphic(),
    })
}

fn is_strict_query(q: &str) -> bool {
    let b = q.as_bytes();
    b.iter().enumerate().all(|(i, &c)| match c {
        b'%' => b.get(i + 1..i + 3).is_some_and(|h| {
            h.iter()
                .all(|x| x.is_ascii_digit() || (b'A'..=b'F').contains(x))
        }),
        b'&' | b'=' | b'-' | b'_' | b'.' | b'~' => true,
        _ => c.is_ascii_alphanumeric(),
    })
}

fn decode(raw: &str) -> Vec<u8> {
    percent_decode_str(raw).collect()
}

/// `url` is `endpoint` + `segments`, encoded, and is sent as signed.
fn assert_under(endpoint: &Url, segments: &[&str], url: &Url) {
    assert_eq!(url.scheme(), endpoint.scheme());
    assert_eq!(url.host(), endpoint.host());
    assert_eq!(
        url.port_or_known_default(),
        endpoint.port_or_known_default()
    );
    assert_eq!(url.fragment(), None);
    let prefix = endpoint.path().trim_end_matches('/');
    let rest = url
        .path()
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or_else(|| panic!("{url} is not under {endpoint}"));
    let raw: Vec<&str> = rest.split('/').collect();
    assert_eq!(raw.len(), segments.len(), "segments of {url}");
    for (raw, seg) in raw.iter().zip(segments) {
        assert!(is_encoded_segment(raw), "{raw:?} of {url} is not encoded");
        assert_eq!(
            decode(raw),
            seg.as_bytes(),
            "{raw:?} of {url} is not {seg:?}"
        );
    }
    let uri: http::Uri = url
        .as_str()
        .parse()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(uri.path(), url.path());
    assert_eq!(uri.query(), url.query());
}

fn is_text(t: &str) -> bool {
    t.chars().count() <= 255 && !t.chars().any(char::is_control)
}

fn check_query(endpoint: &Url, project: &str, q: &BackupQuery) {
    for v in [
        &q.checkpoint_id,
        &q.marker,
        &q.resource_id,
        &q.vault_id,
        &q.enterprise_project_id,
        &q.parent_id,
    ] {
        assert!(
            v.as_deref().is_none_or(validate::is_valid_id),
            "{v:?} accepted"
        );
    }
    for v in [&q.name, &q.resource_az, &q.resource_name] {
        assert!(v.as_deref().is_none_or(is_text), "{v:?} accepted");
    }
    assert!(q.limit.is_none_or(|l| (1..=1000).contains(&l)));
    assert!(q.offset.is_none_or(|o| o >= 0));
    assert!(q.used_percent.is_none_or(|p| (1..=100).contains(&p)));
    assert!(
        q.resource_type
            .as_deref()
            .is_none_or(|t| validate::RESOURCE_TYPES.contains(&t))
    );
    if let (Some(a), Some(b)) = (&q.start_time, &q.end_time) {
        assert!(a <= b);
    }

    // As UpstreamClient::list_backups builds it.
    let route = ["v3", project, "backups"];
    let mut url = paths::build(endpoint, &route).expect("accepted, so it builds");
    let pairs = paths::backup_query_pairs(q);
    if !pairs.is_empty() {
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        url.set_query(Some(&paths::encode_query(&refs)));
    }
    assert_under(endpoint, &route, &url);
    let Some(query) = url.query() else {
        assert!(pairs.is_empty());
        return;
    };
    assert!(is_strict_query(query), "{query:?}");
    let decoded: Vec<(Vec<u8>, Vec<u8>)> = query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(decoded, want);
    assert!(pairs.windows(2).all(|w| w[0].0 <= w[1].0));
    if q.status.windows(2).all(|w| w[0] <= w[1]) {
        assert_eq!(signing::canonical_query(query), query);
    }
}

fn check_create(endpoint: &Url, c: &validate::CreateCheckpoint) {
    assert!(validate::is_valid_id(&c.project_id) && validate::is_valid_id(&c.vault_id));
    if let Some(p) = &c.parameters {
        let mut ids: Vec<&str> = p.resources.iter().map(String::as_str).collect();
        ids.extend(p.name.as_deref());
        ids.extend(p.policy_id.as_deref());
        assert!(p.description.as_deref().is_none_or(is_text));
        assert!(p.resource_details.len() <= 256);
        for r in &p.resource_details {
            ids.push(&r.id);
            assert!(validate::RESOURCE_TYPES.contains(&r.r#type.as_str()));
            assert!(r.name.as_deref().is_none_or(is_text));
            if let Some(e) = &r.extra_info {
                ids.extend(e.exclude_volumes.iter().map(String::as_str));
                for v in &e.include_volumes {
                    ids.push(&v.id);
                    assert!(v.os_version.as_deref().is_none_or(is_text));
                }
            }
        }
        for id in ids {
            assert!(validate::is_valid_id(id), "{id:?} accepted");
        }
    }
    let route = ["v3", c.project_id.as_str(), "checkpoints"];
    let url = paths::build(endpoint, &route).expect("accepted, so it builds");
    assert_under(endpoint, &route, &url);
    let body = serde_json::to_vec(&convert::create_checkpoint_body(c)).expect("serialises");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
    assert_eq!(
        v["checkpoint"]["vault_id"].as_str(),
        Some(c.vault_id.as_str())
    );
}

fuzz_target!(|input: Input| {
    let endpoint = input.endpoint.url();
    let default = input
        .default_project
        .as_ref()
        .map(|p| p.0.as_str())
        .filter(|p| validate::is_valid_id(p));
    match &input.op {
        Op::Get { project_id, id } => {
            let result = validate::check_get(&project_id.0, "backup_id", &id.0, default);
            let project_ok = if project_id.0.is_empty() {
                default.is_some()
            } else {
                validate::is_valid_id(&project_id.0)
            };
            assert_eq!(result.is_ok(), project_ok && validate::is_valid_id(&id.0));
            if let Ok(r) = result {
                for route in [
                    ["v3", r.project_id.as_str(), "checkpoints", r.id.as_str()],
                    ["v3", r.project_id.as_str(), "backups", r.id.as_str()],
                    [
                        "v1",
                        r.project_id.as_str(),
                        "checkpoint_items",
                        r.id.as_str(),
                    ],
                ] {
                    let url = paths::build(&endpoint, &route).expect("accepted, so it builds");
                    assert_under(&endpoint, &route, &url);
                }
            }
        }
        Op::List(req) => {
            if let Ok((project, q)) = validate::check_list_backups(&req.proto(), default) {
                check_query(&endpoint, &project, &q);
            }
        }
        Op::Stream(req) => {
            let mut list = req.proto();
            list.marker.clear();
            let by_list = validate::check_list_backups(&list, default);
            let by_stream = validate::check_stream_backups(&list.clone().into_stream(), default);
            match (by_list, by_stream) {
                (Ok((p1, mut q1)), Ok((p2, q2))) => {
                    assert_eq!(p1, p2);
                    q1.limit = Some(list.limit.unwrap_or(validate::DEFAULT_PAGE_SIZE));
                    q1.offset = Some(list.offset.unwrap_or(0));
                    assert_eq!(q1, q2);
                    check_query(&endpoint, &p2, &q2);
                }
                (Err(mut e1), Err(e2)) => {
                    for v in &mut e1.violations {
                        if v.field == "limit" {
                            v.field = "page_size".into();
                        }
                    }
                    assert_eq!(e1, e2);
                }
                (a, b) => panic!("list: {a:?}\nstream: {b:?}"),
            }
        }
        Op::Create(req) => {
            if let Ok(c) = validate::check_create_checkpoint(req.proto(), default) {
                check_create(&endpoint, &c);
            }
        }
        Op::Build(segments) => {
            let refs: Vec<&str> = segments.iter().take(6).map(|s| s.0.as_str()).collect();
            if refs.is_empty() {
                return;
            }
            let unsafe_segment = refs.iter().any(|s| s.is_empty() || *s == "." || *s == "..");
            match paths::build(&endpoint, &refs) {
                Ok(url) => {
                    assert!(!unsafe_segment);
                    assert_under(&endpoint, &refs, &url);
                }
                Err(PathError::UnsafeSegment) => {}
                Err(e) => panic!("{e} for {refs:?} under {endpoint}"),
            }
        }
        Op::Query(pairs) => {
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let query = paths::encode_query(&refs);
            assert!(is_strict_query(&query));
            let mut sorted = refs.clone();
            sorted.sort_by(|a, b| {
                (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes()))
            });
            assert_eq!(
                signing::canonical_query(&query),
                paths::encode_query(&sorted)
            );
        }
    }
});
