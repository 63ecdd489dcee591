//! Validation and URL building: any request through every `domain::check_*`
//! (random, hostile, and valid by construction) and any input to `paths`,
//! judged by the checks the fuzz target `validate_and_url` shares
//! (`checks::requests`).

use std::ops::RangeInclusive;

use cbr_gateway::{
    domain::{self, enums},
    proto as pb,
};
use proptest::{collection::vec, option, prelude::*, sample::select, test_runner::TestCaseError};
use prost_types::Timestamp;
use url::Url;

use super::{MAX_SECONDS, MIN_SECONDS, chars, config, hostile, mostly};
use crate::checks::requests as checks;

pub(super) fn valid_id() -> BoxedStrategy<String> {
    "[A-Za-z0-9_-]{1,64}".boxed()
}

/// Anything a caller could put in an ID field, valid IDs most often.
fn any_id() -> BoxedStrategy<String> {
    prop_oneof![
        5 => valid_id(),
        1 => "[A-Za-z0-9_-]{65,68}",
        2 => hostile(),
        2 => r"[A-Za-z0-9_./%?#\\:@ \t\n~+&=-]{0,12}",
        1 => chars(12),
    ]
    .boxed()
}

/// An optional ID field: empty (unset), valid or, unless `valid`, anything.
fn opt_id(valid: bool) -> BoxedStrategy<String> {
    let good = prop_oneof![Just(String::new()), valid_id()].boxed();
    if valid { good } else { mostly(good, any_id()) }
}

fn valid_text() -> BoxedStrategy<String> {
    prop_oneof![
        6 => r"\PC{0,24}",
        1 => Just("x".repeat(255)),
        1 => Just("é".repeat(255)),
    ]
    .boxed()
}

fn any_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => valid_text(),
        2 => chars(16),
        1 => Just("x".repeat(256)),
        1 => hostile(),
        1 => "[ -~\t\n\r]{0,16}",
    ]
    .boxed()
}

fn text(valid: bool) -> BoxedStrategy<String> {
    if valid {
        valid_text()
    } else {
        mostly(valid_text(), any_text())
    }
}

fn opt_text(valid: bool) -> BoxedStrategy<String> {
    prop_oneof![Just(String::new()), text(valid)].boxed()
}

/// A proto enum number: 0, a known value or, unless `valid`, anything.
fn enum_raw(valid: bool, known: fn(i32) -> Option<&'static str>) -> BoxedStrategy<i32> {
    let good = (0..16i32)
        .prop_filter("0 or a known value", move |v| {
            *v == 0 || known(*v).is_some()
        })
        .boxed();
    if valid {
        good
    } else {
        mostly(good, prop_oneof![0..16i32, any::<i32>()].boxed())
    }
}

fn statuses(valid: bool) -> BoxedStrategy<Vec<i32>> {
    let good = vec(
        (1..16i32).prop_filter("a known status", |v| {
            enums::backup_status_to_upstream(*v).is_some()
        }),
        0..4,
    )
    .boxed();
    if valid {
        good
    } else {
        mostly(
            good,
            vec(prop_oneof![4 => 0..16i32, 1 => any::<i32>()], 0..4).boxed(),
        )
    }
}

fn opt_int(valid: bool, range: RangeInclusive<i32>) -> BoxedStrategy<Option<i32>> {
    let good = option::of(range).boxed();
    if valid {
        good
    } else {
        mostly(
            good,
            option::of(prop_oneof![-3..3i32, any::<i32>()]).boxed(),
        )
    }
}

fn valid_time() -> BoxedStrategy<Timestamp> {
    (MIN_SECONDS..=MAX_SECONDS)
        .prop_map(|seconds| Timestamp { seconds, nanos: 0 })
        .boxed()
}

fn any_time() -> BoxedStrategy<Option<Timestamp>> {
    option::of(prop_oneof![
        4 => valid_time(),
        1 => select(vec![MIN_SECONDS - 1, MIN_SECONDS, MAX_SECONDS, MAX_SECONDS + 1, i64::MIN, i64::MAX, 0])
            .prop_map(|seconds| Timestamp { seconds, nanos: 0 }),
        1 => (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| Timestamp { seconds, nanos }),
    ])
    .boxed()
}

/// (start_time, end_time); valid pairs are ordered.
fn times(valid: bool) -> BoxedStrategy<(Option<Timestamp>, Option<Timestamp>)> {
    let good = (option::of(valid_time()), option::of(valid_time()))
        .prop_map(|pair| match pair {
            (Some(a), Some(b)) if a.seconds > b.seconds => (Some(b), Some(a)),
            other => other,
        })
        .boxed();
    if valid {
        good
    } else {
        mostly(good, (any_time(), any_time()).boxed())
    }
}

const SORT_KEYS: &[&str] = &[
    "created_at",
    "updated_at",
    "name",
    "status",
    "protected_at",
    "id",
];
const SORT_DIRS: &[&str] = &["", ":asc", ":desc"];

fn sort(valid: bool) -> BoxedStrategy<String> {
    let good = prop_oneof![
        Just(String::new()),
        vec((select(SORT_KEYS), select(SORT_DIRS)), 1..4).prop_map(|parts| {
            parts
                .iter()
                .map(|(k, d)| format!("{k}{d}"))
                .collect::<Vec<_>>()
                .join(",")
        }),
    ]
    .boxed();
    if valid {
        good
    } else {
        mostly(good, prop_oneof![any_text(), "[a-z_:,]{0,20}"].boxed())
    }
}

fn known_resource_type() -> BoxedStrategy<String> {
    select(domain::RESOURCE_TYPES)
        .prop_map(str::to_owned)
        .boxed()
}

/// A ListBackups `resource_type` filter: empty means unset.
fn type_filter(valid: bool) -> BoxedStrategy<String> {
    let good = prop_oneof![Just(String::new()), known_resource_type()].boxed();
    if valid {
        good
    } else {
        mostly(good, any_text())
    }
}

/// (request project, configured default project). Defaults are always valid:
/// the configuration refuses any other.
fn project(valid: bool) -> BoxedStrategy<(String, Option<String>)> {
    let good = prop_oneof![
        (valid_id(), option::of(valid_id())),
        (Just(String::new()), valid_id().prop_map(Some)),
    ]
    .boxed();
    if valid {
        good
    } else {
        let wild = (
            prop_oneof![2 => any_id(), 1 => Just(String::new())],
            option::of(valid_id()),
        );
        prop_oneof![2 => good, 1 => wild].boxed()
    }
}

type WithDefault<T> = (T, Option<String>);

pub(super) fn list_request(valid: bool) -> BoxedStrategy<WithDefault<pb::ListBackupsRequest>> {
    (
        (
            project(valid),
            opt_id(valid),
            any::<Option<bool>>(),
            times(valid),
            enum_raw(valid, enums::image_type_to_upstream),
            opt_int(valid, 1..=1000),
            opt_id(valid),
            opt_text(valid),
        ),
        (
            opt_int(valid, 0..=i32::MAX),
            opt_text(valid),
            opt_id(valid),
            opt_text(valid),
            type_filter(valid),
            sort(valid),
            statuses(valid),
            opt_id(valid),
        ),
        (
            opt_id(valid),
            enum_raw(valid, enums::own_type_to_upstream),
            enum_raw(valid, enums::member_status_to_upstream),
            opt_id(valid),
            opt_int(valid, 1..=100),
            any::<Option<bool>>(),
            any::<Option<bool>>(),
            any::<Option<bool>>(),
        ),
    )
        .prop_map(
            |(
                (
                    (project_id, default),
                    checkpoint_id,
                    dec,
                    (start_time, end_time),
                    image_type,
                    limit,
                    marker,
                    name,
                ),
                (
                    offset,
                    resource_az,
                    resource_id,
                    resource_name,
                    resource_type,
                    sort,
                    status,
                    vault_id,
                ),
                (
                    enterprise_project_id,
                    own_type,
                    member_status,
                    parent_id,
                    used_percent,
                    show_replication,
                    incremental,
                    existed_quantity_based_retention_backups,
                ),
            )| {
                let req = pb::ListBackupsRequest {
                    project_id,
                    checkpoint_id,
                    dec,
                    end_time,
                    image_type,
                    limit,
                    marker,
                    name,
                    offset,
                    resource_az,
                    resource_id,
                    resource_name,
                    resource_type,
                    sort,
                    start_time,
                    status,
                    vault_id,
                    enterprise_project_id,
                    own_type,
                    member_status,
                    parent_id,
                    used_percent,
                    show_replication,
                    incremental,
                    existed_quantity_based_retention_backups,
                    region: String::new(),
                };
                (req, default)
            },
        )
        .boxed()
}

fn id(valid: bool) -> BoxedStrategy<String> {
    if valid {
        valid_id()
    } else {
        mostly(valid_id(), any_id())
    }
}

fn resource(valid: bool) -> BoxedStrategy<pb::Resource> {
    let volumes = (
        vec(id(valid), 0..3),
        vec((id(valid), option::of(text(valid))), 0..3),
    )
        .prop_map(|(exclude, include)| pb::ResourceExtraInfo {
            exclude_volumes: exclude,
            include_volumes: include
                .into_iter()
                .map(|(id, os_version)| pb::IncludeVolume { id, os_version })
                .collect(),
        });
    let kind = if valid {
        known_resource_type()
    } else {
        mostly(known_resource_type(), any_text())
    };
    (
        id(valid),
        kind,
        option::of(text(valid)),
        option::of(volumes),
    )
        .prop_map(|(id, r#type, name, extra_info)| pb::Resource {
            id,
            r#type,
            name,
            extra_info,
        })
        .boxed()
}

fn parameters(valid: bool) -> BoxedStrategy<pb::CheckpointParameters> {
    let details = if valid {
        vec(resource(true), 0..3).boxed()
    } else {
        prop_oneof![
            8 => vec(resource(false), 0..3),
            1 => resource(true).prop_map(|r| vec![r; 257]),
        ]
        .boxed()
    };
    let good = option::of(prop_oneof![Just(-1), 1..=36500i32]).boxed();
    let retention = if valid {
        good
    } else {
        mostly(
            good,
            option::of(prop_oneof![Just(0), Just(-2), Just(36501), any::<i32>()]).boxed(),
        )
    };
    (
        any::<Option<bool>>(),
        option::of(text(valid)),
        any::<Option<bool>>(),
        option::of(id(valid)),
        vec(id(valid), 0..3),
        details,
        option::of(id(valid)),
        retention,
    )
        .prop_map(
            move |(
                auto_trigger,
                description,
                incremental,
                name,
                resources,
                resource_details,
                policy_id,
                retention_duration_days,
            )| {
                // A retention is not allowed with auto_trigger.
                let auto_trigger = if valid && retention_duration_days.is_some() {
                    auto_trigger.filter(|t| !t)
                } else {
                    auto_trigger
                };
                pb::CheckpointParameters {
                    auto_trigger,
                    description,
                    incremental,
                    name,
                    resources,
                    resource_details,
                    policy_id,
                    retention_duration_days,
                }
            },
        )
        .boxed()
}

fn request_id(valid: bool) -> BoxedStrategy<String> {
    let uuid = (any::<u128>(), 0..4u8).prop_map(|(n, form)| {
        let u = uuid::Uuid::from_u128(n);
        match form {
            0 => u.hyphenated().to_string(),
            1 => u.simple().to_string(),
            2 => u.braced().to_string(),
            _ => u.urn().to_string(),
        }
    });
    let good = prop_oneof![Just(String::new()), uuid].boxed();
    if valid {
        good
    } else {
        mostly(good, any_text())
    }
}

pub(super) fn create_request(
    valid: bool,
) -> BoxedStrategy<WithDefault<pb::CreateCheckpointRequest>> {
    (
        project(valid),
        id(valid),
        option::of(parameters(valid)),
        request_id(valid),
    )
        .prop_map(
            |((project_id, default), vault_id, parameters, request_id)| {
                let req = pb::CreateCheckpointRequest {
                    project_id,
                    vault_id,
                    parameters,
                    request_id,
                    region: String::new(),
                };
                (req, default)
            },
        )
        .boxed()
}

/// Endpoints the configuration accepts: http(s), a host, maybe a port and a
/// path prefix, no query, fragment or credentials.
fn endpoint() -> BoxedStrategy<Url> {
    let segment = prop_oneof![
        4 => "[a-z0-9_~-]{1,6}",
        1 => Just("a%20b".to_owned()),
        1 => Just("v%2F1".to_owned()),
        1 => "[!$&'()*+,;=:@]{1,3}",
        1 => Just(String::new()),
    ];
    (
        select(&["http", "https"][..]),
        select(
            &[
                "cbr.example.com",
                "cbr.cn-north-4.myhuaweicloud.com",
                "127.0.0.1",
                "[::1]",
                "xn--bcher-kva.example",
            ][..],
        ),
        option::of(1..=u16::MAX),
        vec(segment, 0..3),
        any::<bool>(),
    )
        .prop_filter_map("a valid endpoint", |(scheme, host, port, prefix, slash)| {
            let mut raw = format!("{scheme}://{host}");
            if let Some(port) = port {
                raw.push_str(&format!(":{port}"));
            }
            for segment in &prefix {
                raw.push('/');
                raw.push_str(segment);
            }
            if slash {
                raw.push('/');
            }
            Url::parse(&raw).ok()
        })
        .boxed()
}

// ---------------------------------------------------------------- validation and URLs

/// A vault name filter: empty, upstream's pattern or, unless `valid`, anything.
fn vault_name(valid: bool) -> BoxedStrategy<String> {
    let good = prop_oneof![Just(String::new()), "[A-Za-z0-9_\u{4E00}-\u{9FA5}-]{1,20}"].boxed();
    if valid {
        good
    } else {
        mostly(good, any_text())
    }
}

/// A region: empty, upstream's pattern or, unless `valid`, anything.
fn region(valid: bool) -> BoxedStrategy<String> {
    let good = prop_oneof![Just(String::new()), "[a-z0-9._-]{1,12}"].boxed();
    if valid {
        good
    } else {
        mostly(good, any_text())
    }
}

fn ids(valid: bool) -> BoxedStrategy<Vec<String>> {
    if valid {
        vec(valid_id(), 0..4).boxed()
    } else {
        vec(any_id(), 0..4).boxed()
    }
}

pub(super) fn list_vaults_request(
    valid: bool,
) -> BoxedStrategy<WithDefault<pb::ListVaultsRequest>> {
    (
        project(valid),
        (opt_int(valid, 1..=1000), opt_int(valid, 0..=5000)),
        vault_name(valid),
        (
            enum_raw(valid, enums::cloud_type_to_upstream),
            enum_raw(valid, enums::object_type_to_upstream),
            enum_raw(valid, enums::vault_status_to_upstream),
        ),
        (opt_id(valid), opt_id(valid), opt_text(valid)),
        (ids(valid), ids(valid)),
    )
        .prop_map(
            |(
                (project_id, default),
                (limit, offset),
                name,
                (cloud, object, status),
                (eps, policy, az),
                (id, resource_ids),
            )| {
                (
                    pb::ListVaultsRequest {
                        project_id,
                        limit,
                        name,
                        offset,
                        cloud_type: cloud,
                        protect_type: 0,
                        object_type: object,
                        enterprise_project_id: eps,
                        id,
                        policy_id: policy,
                        status,
                        resource_ids,
                        availability_zone: az,
                        region: String::new(),
                    },
                    default,
                )
            },
        )
        .boxed()
}

pub(super) fn list_operation_logs_request(
    valid: bool,
) -> BoxedStrategy<WithDefault<pb::ListOperationLogsRequest>> {
    (
        project(valid),
        (
            enum_raw(valid, enums::operation_type_to_upstream),
            enum_raw(valid, enums::operation_log_status_to_upstream),
        ),
        (opt_id(valid), opt_id(valid), opt_text(valid)),
        (opt_id(valid), opt_text(valid), opt_id(valid)),
        times(valid),
        (opt_int(valid, 1..=1000), opt_int(valid, 0..=5000)),
        (region(valid), opt_id(valid)),
    )
        .prop_map(
            |(
                (project_id, default),
                (kind, status),
                (provider, resource, resource_name),
                (vault, vault_name, eps),
                (start_time, end_time),
                (limit, offset),
                (region, dest_project),
            )| {
                (
                    pb::ListOperationLogsRequest {
                        region: String::new(),
                        project_id,
                        operation_type: kind,
                        status,
                        provider_id: provider,
                        resource_id: resource,
                        resource_name,
                        vault_id: vault,
                        vault_name,
                        start_time,
                        end_time,
                        enterprise_project_id: eps,
                        limit,
                        offset,
                        destination_region: region,
                        destination_project_id: dest_project,
                    },
                    default,
                )
            },
        )
        .boxed()
}

proptest! {
    #![proptest_config(config(256))]

    /// A single-resource read is accepted exactly when the project (or the
    /// default) and the ID follow the ID rule, and then builds the URL of all
    /// three routes.
    #[test]
    fn gets_accept_exactly_valid_ids_and_build_urls(
        (project_id, default) in project(false),
        id in any_id(),
        endpoint in endpoint(),
    ) {
        checks::check_get(&project_id, &id, default.as_deref(), &endpoint);
    }

    /// Whatever ListBackups accepts obeys the rules and builds a URL with a
    /// strict, canonical query.
    #[test]
    fn accepted_list_requests_build_strict_urls(
        (req, default) in list_request(false),
        endpoint in endpoint(),
    ) {
        checks::check_list(&req, default.as_deref(), &endpoint);
    }

    /// Whatever ListVaults or ListOperationLogs accepts builds a strict URL;
    /// what they refuse names the fields.
    #[test]
    fn accepted_lifecycle_lists_build_strict_urls(
        (vaults, default) in list_vaults_request(false),
        (logs, log_default) in list_operation_logs_request(false),
        endpoint in endpoint(),
    ) {
        checks::check_list_vaults(&vaults, default.as_deref(), &endpoint);
        checks::check_list_operation_logs(&logs, log_default.as_deref(), &endpoint);
    }

    /// ListVaults and ListOperationLogs requests valid by construction are
    /// accepted.
    #[test]
    fn valid_lifecycle_lists_are_accepted(
        (vaults, default) in list_vaults_request(true),
        (logs, log_default) in list_operation_logs_request(true),
    ) {
        domain::check_list_vaults(&vaults, default.as_deref())
            .map_err(|e| TestCaseError::fail(format!("refused: {:?}", e.violations)))?;
        domain::check_list_operation_logs(&logs, log_default.as_deref())
            .map_err(|e| TestCaseError::fail(format!("refused: {:?}", e.violations)))?;
    }

    /// A ListBackups request valid by construction is accepted.
    #[test]
    fn valid_list_requests_are_accepted(
        (req, default) in list_request(true),
        endpoint in endpoint(),
    ) {
        let (project, q) = domain::check_list_backups(&req, default.as_deref())
            .map_err(|e| TestCaseError::fail(format!("refused: {:?}", e.violations)))?;
        checks::assert_accepted_query(&q);
        checks::assert_list_url(&endpoint, &project, &q);
    }

    /// StreamBackups checks its filters exactly as ListBackups does (rejecting
    /// nothing ListBackups accepts), names `limit` `page_size`, and always sets
    /// `limit` and `offset`.
    #[test]
    fn stream_backups_checks_like_list_backups(
        (mut list, default) in list_request(false),
    ) {
        list.marker.clear();
        checks::check_stream_like_list(&list, default.as_deref());
    }

    /// Whatever CreateCheckpoint accepts obeys the rules, builds its URL and a
    /// JSON body naming the vault.
    #[test]
    fn accepted_creates_build_urls_and_bodies(
        (req, default) in create_request(false),
        endpoint in endpoint(),
    ) {
        checks::check_create(req, default.as_deref(), &endpoint);
    }

    /// A CreateCheckpoint valid by construction is accepted.
    #[test]
    fn valid_creates_are_accepted(
        (req, default) in create_request(true),
        endpoint in endpoint(),
    ) {
        let c = domain::check_create_checkpoint(req, default.as_deref())
            .map_err(|e| TestCaseError::fail(format!("refused: {:?}", e.violations)))?;
        checks::assert_accepted_create_builds(&c, &endpoint);
    }

    /// `paths::build` does not rely on validation: any segment either is
    /// refused or ends up, encoded, as exactly one segment under the endpoint.
    #[test]
    fn any_segments_stay_under_the_endpoint(
        endpoint in endpoint(),
        segments in vec(prop_oneof![any_id(), chars(8), "[\t\n\r. %]{1,4}"], 1..5),
    ) {
        let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
        checks::check_segments(&endpoint, &refs);
    }

    /// `encode_query` is strict and lossless for any pairs, and its output
    /// canonicalises to the pairs sorted by key then value.
    #[test]
    fn encoded_queries_decode_to_their_pairs(
        pairs in vec((prop_oneof![chars(8), "[a-z_]{1,8}"], chars(8)), 0..6),
    ) {
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        checks::check_encoded_query(&refs);
    }
}
