//! Parity with Huawei's published API definitions (issue 21): the protos carry
//! every parameter and answer field of every CBR operation the gateway
//! serves, the simulator answers as the definitions say, and the bodies the
//! gateway sends are the bodies the definitions describe. What differs on
//! purpose is listed once, with the reason, in [`exceptions`].

mod definitions;
mod exceptions;

use std::collections::BTreeSet;

use cbr_gateway::{proto::FILE_DESCRIPTOR_SET, rpcs};
use cbr_wire::{self as wire, Api};
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind as ProtoKind, MessageDescriptor};

use definitions::{Kind, Operation, Schema, definitions};
use exceptions::{NOT_DEFINED, OMITTED, UNMAPPED_VALUES};

mod requests;
mod simulator;

/// The gateway's own API package: the messages it defines for CBR. (Google's
/// `Operations` requests are Google's shapes, named by operation, not by
/// upstream's parameters.)
const PACKAGE: &str = "cbr.gateway.v1";

fn pool() -> DescriptorPool {
    DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("the gateway's descriptor set decodes")
}

/// The definition of a served upstream route.
fn defined(route: &wire::Route) -> Option<Operation<'static>> {
    definitions().operation(route.method, &route.template())
}

/// The gateway's messages for one upstream operation, from the RPC table:
/// the requests of the methods that call it first (they carry its path and
/// query parameters) and the responses of those that answer with it
/// (unary, not a long-running operation).
fn messages_of(
    pool: &DescriptorPool,
    route: &wire::Route,
) -> (Vec<MessageDescriptor>, Vec<MessageDescriptor>) {
    let mut requests = Vec::new();
    let mut responses = Vec::new();
    for rpc in rpcs::api().filter(|rpc| rpc.service.starts_with(PACKAGE)) {
        if rpc.upstream.first().copied() != Some(route) {
            continue;
        }
        let method = pool
            .get_service_by_name(rpc.service)
            .and_then(|s| s.methods().find(|m| m.name() == rpc.method))
            .expect("every row is in the descriptor set");
        requests.push(method.input());
        if !rpc.is_stream() && method.output().package_name() == PACKAGE {
            responses.push(method.output());
        }
    }
    (requests, responses)
}

/// How one operation's parameters and answer fields were found.
#[derive(Default, Debug)]
struct Coverage {
    carried: usize,
    omitted: usize,
    /// `Message.field` the definitions have and the gateway lacks.
    missing: Vec<String>,
    /// `Message.field` whose shape (message, list, scalar) differs.
    misshapen: Vec<String>,
    /// Upstream enum values a proto enum has no value for, as
    /// `Message.field: value`.
    unnamed: Vec<String>,
    /// Omissions used, so that a stale one is noticed.
    used: BTreeSet<&'static str>,
}

impl Coverage {
    fn field(&mut self, message: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
        let key = format!("{}.{name}", message.name());
        match message.get_field_by_name(name) {
            Some(f) => {
                self.carried += 1;
                Some(f)
            }
            None => {
                match OMITTED.iter().find(|(k, _)| *k == key) {
                    Some((k, _)) => {
                        self.omitted += 1;
                        self.used.insert(k);
                    }
                    None => self.missing.push(key),
                }
                None
            }
        }
    }

    /// Every upstream value of an enum has its proto value: the gateway's
    /// enums name each upstream string in upper case after their prefix
    /// (`waiting_protect` is `BACKUP_STATUS_WAITING_PROTECT`), so a value
    /// Huawei adds would otherwise reach callers as `…_UNSPECIFIED`.
    fn enum_values(
        &mut self,
        key: &str,
        values: &[serde_json::Value],
        e: &prost_reflect::EnumDescriptor,
    ) {
        for v in values.iter().filter_map(|v| v.as_str()) {
            let upper: String = v
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            if e.values()
                .any(|ev| ev.name().ends_with(&format!("_{upper}")))
            {
                continue;
            }
            let listed = format!("{key}={v}");
            match UNMAPPED_VALUES.iter().find(|(k, _)| *k == listed) {
                Some((k, _)) => {
                    self.used.insert(k);
                }
                None => self
                    .unnamed
                    .push(format!("{key}: {v} (no {}_…{upper})", e.name())),
            }
        }
    }

    /// Walks `schema`'s properties against `message`'s fields, nested;
    /// `seen` cuts recursive definitions (a backup's `children`).
    fn walk(
        &mut self,
        schema: Schema<'_>,
        message: &MessageDescriptor,
        seen: &mut BTreeSet<(String, String)>,
    ) {
        if let Some(name) = schema.name
            && !seen.insert((name.to_owned(), message.full_name().to_owned()))
        {
            return;
        }
        for (name, property) in schema.properties() {
            let Some(field) = self.field(message, name) else {
                continue;
            };
            let key = format!("{}.{name}", message.name());
            let item = match property.kind() {
                Kind::Array => {
                    if !field.is_list() {
                        self.misshapen
                            .push(format!("{key}: an array upstream, not repeated"));
                    }
                    property.items().expect("an array has items")
                }
                _ if field.is_list() => {
                    self.misshapen
                        .push(format!("{key}: repeated, not an array upstream"));
                    continue;
                }
                _ => property,
            };
            if let (Some(values), ProtoKind::Enum(e)) = (item.allowed(), field.kind()) {
                self.enum_values(&key, values, &e);
            }
            match (item.kind(), field.kind()) {
                (Kind::Object, ProtoKind::Message(m)) if !item.properties().is_empty() => {
                    self.walk(item, &m, seen)
                }
                (Kind::Object, _) if item.properties().is_empty() => {}
                (Kind::Object, _) => self
                    .misshapen
                    .push(format!("{key}: an object upstream, not a message")),
                (Kind::Scalar, ProtoKind::Message(m))
                    if m.full_name() != "google.protobuf.Timestamp" =>
                {
                    self.misshapen.push(format!(
                        "{key}: a scalar upstream, a {} here",
                        m.full_name()
                    ))
                }
                _ => {}
            }
        }
    }
}

/// Every operation the gateway calls upstream is either defined in the
/// pinned definitions (found by method and path) or listed in
/// [`NOT_DEFINED`] with the reason; and every one defined is served with every
/// query and path parameter and every answer field, nested, in the gateway's
/// own descriptor set (the one reflection serves), in the same shape (object
/// ↔ message, array ↔ repeated), every upstream enum value with its proto
/// enum value — but for the omissions of [`OMITTED`] and
/// [`UNMAPPED_VALUES`], each with its reason. Prints the coverage per
/// operation.
#[test]
fn the_protos_carry_every_parameter_and_field_huawei_defines() {
    let pool = pool();
    let defs = definitions();
    // Each parameter counts once per request message that should carry it
    // (ListBackups' in ListBackupsRequest and in StreamBackupsRequest), each
    // answer field once per definition walked (a backup's `children` once).
    let mut report = vec![format!(
        "{:<20} {:<17} {:>8} {:>8} {:>8} {:>8}",
        "route", "definition", "params", "answer", "omitted", "missing"
    )];
    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    let (mut params, mut fields, mut omitted) = (0, 0, 0);
    for route in wire::ALL {
        let Some(op) = defined(route) else {
            let listed = NOT_DEFINED.iter().any(|(name, _)| *name == route.name);
            assert!(
                listed,
                "{} ({} {}) is in no definition of {} and not listed in NOT_DEFINED",
                route.name,
                route.method,
                route.template(),
                defs.version
            );
            continue;
        };
        assert_eq!(route.api, Api::Cbr, "{}", route.name);
        assert!(
            !NOT_DEFINED.iter().any(|(name, _)| *name == route.name),
            "{} is defined now ({}): take it out of NOT_DEFINED",
            route.name,
            op.name
        );
        let (requests, responses) = messages_of(&pool, route);
        assert!(
            !requests.is_empty(),
            "{}: no RPC calls it first",
            route.name
        );
        let mut c = Coverage::default();
        for request in &requests {
            for location in ["path", "query"] {
                for p in op.parameters(location) {
                    let name = p["name"].as_str().unwrap();
                    if let Some(field) = c.field(request, name) {
                        let array = p["type"] == "array";
                        // A repeated query key (`status=a&status=b`) is a list too.
                        if array && !field.is_list() {
                            c.misshapen
                                .push(format!("{}.{name}: an array upstream", request.name()));
                        }
                        let values = p["enum"].as_array().or(p["items"]["enum"].as_array());
                        if let (Some(values), ProtoKind::Enum(e)) = (values, field.kind()) {
                            let key = format!("{}.{name}", request.name());
                            c.enum_values(&key, values, &e);
                        }
                    }
                }
            }
        }
        let carried_params = c.carried;
        let (_, answer) = op.success();
        match answer {
            Some(schema) => {
                assert!(
                    !responses.is_empty(),
                    "{}: {} answers a body no RPC returns",
                    route.name,
                    op.name
                );
                for response in &responses {
                    c.walk(schema, response, &mut BTreeSet::new());
                }
            }
            None => assert!(
                responses.is_empty(),
                "{}: {} defines no answer",
                route.name,
                op.name
            ),
        }
        report.push(format!(
            "{:<20} {:<17} {:>8} {:>8} {:>8} {:>8}",
            route.name,
            op.name,
            carried_params,
            c.carried - carried_params,
            c.omitted,
            c.missing.len()
        ));
        params += carried_params;
        fields += c.carried - carried_params;
        omitted += c.omitted;
        problems.extend(
            c.missing
                .iter()
                .map(|m| format!("{}: {m} is missing", op.name)),
        );
        problems.extend(c.misshapen.iter().map(|m| format!("{}: {m}", op.name)));
        problems.extend(c.unnamed.iter().map(|m| format!("{}: {m}", op.name)));
        used.extend(c.used);
    }
    report.push(format!(
        "{:<38} {params:>8} {fields:>8} {omitted:>8} {:>8}",
        "total",
        problems.len()
    ));
    eprintln!(
        "parity with huawei-cloud-api-definitions-CBR {}:\n{}",
        defs.version,
        report.join("\n")
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let stale: Vec<_> = OMITTED
        .iter()
        .chain(UNMAPPED_VALUES)
        .filter(|(k, _)| !used.contains(k))
        .map(|(k, _)| *k)
        .collect();
    assert!(
        stale.is_empty(),
        "listed in OMITTED or UNMAPPED_VALUES but carried or no longer defined: {stale:?}"
    );
}

/// The checks above notice what differs: walked against the wrong message,
/// the walk finds the fields missing; a wrong answer gives a finding per
/// kind of difference, each named by definition and property.
#[test]
fn the_checks_notice_what_differs() {
    use definitions::{Extra, Violation, validate};
    use serde_json::json;

    let pool = pool();
    let show_backup = defined(&wire::GET_BACKUP).expect("ShowBackup is defined");
    let (_, schema) = show_backup.success();
    let vault = pool
        .get_message_by_name("cbr.gateway.v1.GetVaultResponse")
        .unwrap();
    let mut c = Coverage::default();
    c.walk(schema.unwrap(), &vault, &mut BTreeSet::new());
    assert_eq!(c.missing, ["GetVaultResponse.backup"]);
    let backup = pool.get_message_by_name("cbr.gateway.v1.Backup").unwrap();
    let mut c = Coverage::default();
    c.walk(
        schema.unwrap().properties()[0].1,
        &backup,
        &mut BTreeSet::new(),
    );
    assert!(c.missing.is_empty() && c.carried > 50, "{c:?}");
    // A status Huawei adds is noticed, not mapped to BACKUP_STATUS_UNSPECIFIED.
    let status = pool
        .get_enum_by_name("cbr.gateway.v1.BackupStatus")
        .unwrap();
    c.enum_values(
        "Backup.status",
        &[json!("waiting_protect"), json!("frozen")],
        &status,
    );
    assert_eq!(
        c.unnamed,
        ["Backup.status: frozen (no BackupStatus_…FROZEN)"]
    );

    let wrong = json!({"backup": {
        "id": 7,
        "status": "lost",
        "created_at": "yesterday",
        "resource_size": 3_000_000_000_u64,
        "extend_info": {"supported_restore_mode": "backup"},
        "children": [{"id": "c", "status": "available"}],
    }});
    let findings = validate(schema.unwrap(), &wrong, Extra::Allowed);
    let has = |at: &str, key: &str, v: Violation| {
        findings
            .iter()
            .any(|f| f.at == at && f.key == key && f.violation == v)
    };
    assert!(
        has(
            "$.backup.id",
            "BackupResp.id",
            Violation::Type {
                expected: "string",
                found: "integer"
            }
        ),
        "{findings:#?}"
    );
    assert!(has(
        "$.backup.status",
        "BackupResp.status",
        Violation::NotInEnum("lost".into())
    ));
    assert!(has(
        "$.backup.created_at",
        "BackupResp.created_at",
        Violation::Format("date-time", "yesterday".into())
    ));
    assert!(has(
        "$.backup.resource_size",
        "BackupResp.resource_size",
        Violation::Range("int32")
    ));
    assert!(has(
        "$.backup.vault_id",
        "BackupResp.vault_id",
        Violation::Missing
    ));
    assert!(has(
        "$.backup.children[0].vault_id",
        "BackupResp.vault_id",
        Violation::Missing
    ));
    assert!(
        !findings
            .iter()
            .any(|f| f.key.starts_with("BackupExtendInfo"))
    );
    // Strict for requests: a property the definition lacks is refused.
    let body = defined(&wire::CREATE_CHECKPOINT).unwrap().body().unwrap();
    let findings = validate(
        body,
        &json!({"checkpoint": {"vault_id": "v", "vault": "x"}}),
        Extra::Refused,
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(
        (findings[0].key.as_str(), &findings[0].violation),
        ("VaultBackup.vault", &Violation::Unknown)
    );
}

/// Every exception says why, once: a difference nobody can explain is not
/// an exception but a bug.
#[test]
fn every_exception_is_listed_once_with_its_reason() {
    use exceptions::{QUIRKS, REQUEST_EXTRAS};
    let keyed = NOT_DEFINED
        .iter()
        .chain(OMITTED)
        .chain(UNMAPPED_VALUES)
        .chain(REQUEST_EXTRAS);
    let quirks = QUIRKS.iter().map(|q| (q.name, q.why));
    let mut names = BTreeSet::new();
    for (name, why) in keyed.copied().chain(quirks) {
        assert!(names.insert(name), "{name} is listed twice");
        assert!(why.split_whitespace().count() >= 8, "{name}: say why");
    }
    assert!(
        QUIRKS
            .iter()
            .all(|q| !q.at.is_empty() && !q.allows.is_empty())
    );
}
