//! Request validation and upstream URL building.
//!
//! Arbitrary proto requests go through every `domain::check_*`; whatever is
//! accepted must obey the rules and build its upstream URL (`upstream::paths`)
//! under the endpoint's scheme, host, port and path prefix, every segment
//! percent-encoded and decoding back to its input, the query strictly encoded,
//! decoding to `backup_query_pairs` and already canonical for signing.
//! StreamBackups must judge its filters exactly as ListBackups does.
//! `paths::build` and `paths::encode_query` are also fed raw strings: any
//! segment is either refused or kept, encoded, as exactly one segment.
//! Nothing may panic. The checks are `tests/gateway/checks/requests.rs`,
//! which the property tests run on stable too.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use cbr_gateway::{domain, proto as pb, upstream::paths};
use libfuzzer_sys::fuzz_target;
use prost_types::Timestamp;
use url::Url;

// The checks, shared with the property tests (`tests/gateway/properties/`).
#[allow(dead_code)]
#[path = "../../tests/gateway/checks/requests.rs"]
mod checks;

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
    existed_quantity_based_retention_backups: Option<bool>,
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
            existed_quantity_based_retention_backups: self.existed_quantity_based_retention_backups,
            region: String::new(),
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
            region: String::new(),
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

fuzz_target!(|input: Input| {
    let endpoint = input.endpoint.url();
    let default = input
        .default_project
        .as_ref()
        .map(|p| p.0.as_str())
        .filter(|p| domain::is_valid_id(p));
    match &input.op {
        Op::Get { project_id, id } => checks::check_get(&project_id.0, &id.0, default, &endpoint),
        Op::List(req) => checks::check_list(&req.proto(), default, &endpoint),
        Op::Stream(req) => {
            let mut list = req.proto();
            list.marker.clear();
            if let Some((project, q)) = checks::check_stream_like_list(&list, default) {
                checks::assert_accepted_query(&q);
                checks::assert_list_url(&endpoint, &project, &q);
            }
        }
        Op::Create(req) => checks::check_create(req.proto(), default, &endpoint),
        Op::Build(segments) => {
            let refs: Vec<&str> = segments.iter().take(6).map(|s| s.0.as_str()).collect();
            if !refs.is_empty() {
                checks::check_segments(&endpoint, &refs);
            }
        }
        Op::Query(pairs) => {
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            checks::check_encoded_query(&refs);
        }
    }
});
