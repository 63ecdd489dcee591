//! Request validation and upstream URL building: what any request accepted by
//! `domain::check_*` must hold, and what `paths` promises for any input.
//!
//! Shared by the property tests (`properties::requests`) and the fuzz target
//! `fuzz/fuzz_targets/validate_and_url.rs`, which include this file: it names
//! only crates both depend on, and fails by panicking (proptest shrinks a
//! panicking case as it does a failed `prop_assert!`).

use cbr_gateway::{
    domain::{self, BackupQuery},
    proto as pb,
    upstream::{
        dto,
        paths::{self, PathError},
    },
};
use cbr_signer as signing;
use percent_encoding::percent_decode_str;
use url::Url;

/// Whether `raw` is one encoded path segment: visible ASCII, no `/`, `?` or
/// `#`, and every `%` starting an escape.
pub fn is_encoded_segment(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| match b {
        b'%' => bytes
            .get(i + 1..i + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)),
        b'/' | b'?' | b'#' => false,
        _ => b.is_ascii_graphic(),
    })
}

pub fn decode(raw: &str) -> Vec<u8> {
    percent_decode_str(raw).collect()
}

/// `url` is `endpoint` followed by `segments`, each encoded and decoding back
/// to its input, and is sent as the signer reads it.
pub fn assert_url_under(endpoint: &Url, segments: &[&str], url: &Url) {
    assert_eq!(url.scheme(), endpoint.scheme());
    assert_eq!(url.host(), endpoint.host());
    assert_eq!(
        url.port_or_known_default(),
        endpoint.port_or_known_default()
    );
    assert_eq!((url.username(), url.password()), ("", None));
    assert_eq!(url.fragment(), None);
    let prefix = endpoint.path().trim_end_matches('/');
    let rest = url
        .path()
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or_else(|| panic!("{url} is not under the prefix of {endpoint}"));
    let raw: Vec<&str> = rest.split('/').collect();
    assert_eq!(raw.len(), segments.len(), "segments of {url}");
    for (raw, segment) in raw.iter().zip(segments) {
        assert!(
            is_encoded_segment(raw),
            "segment {raw:?} of {url} is not encoded"
        );
        assert_eq!(
            decode(raw),
            segment.as_bytes(),
            "segment {raw:?} of {url} does not decode to {segment:?}"
        );
    }
    // The signer reads the URL's path and query; the server sees the URI's.
    let uri: http::Uri = url
        .as_str()
        .parse()
        .unwrap_or_else(|e| panic!("{url} is not an HTTP URI: {e}"));
    assert_eq!(uri.path(), url.path());
    assert_eq!(uri.query(), url.query());
}

/// Whether `query` uses only unreserved characters, `&`, `=` and uppercase
/// `%XX` escapes.
pub fn is_strict_query(query: &str) -> bool {
    let bytes = query.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| match b {
        b'%' => bytes.get(i + 1..i + 3).is_some_and(|hex| {
            hex.iter()
                .all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(h))
        }),
        b'&' | b'=' | b'-' | b'_' | b'.' | b'~' => true,
        _ => b.is_ascii_alphanumeric(),
    })
}

pub fn decode_query(query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn as_bytes(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

/// The ListBackups URL exactly as `UpstreamClient::list_backups` builds it.
pub fn list_url(endpoint: &Url, project: &str, query: &BackupQuery) -> Result<Url, PathError> {
    let mut url = paths::build(endpoint, &["v3", project, "backups"])?;
    let pairs = paths::backup_query_pairs(query);
    if !pairs.is_empty() {
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        url.set_query(Some(&paths::encode_query(&refs)));
    }
    Ok(url)
}

/// An accepted ListBackups query builds a URL under the endpoint whose query
/// is strict, lossless, sorted by key and (statuses in order) canonical.
pub fn assert_list_url(endpoint: &Url, project: &str, q: &BackupQuery) {
    let url =
        list_url(endpoint, project, q).unwrap_or_else(|e| panic!("accepted, but no URL: {e}"));
    assert_url_under(endpoint, &["v3", project, "backups"], &url);
    let pairs = paths::backup_query_pairs(q);
    let Some(query) = url.query() else {
        assert!(pairs.is_empty());
        return;
    };
    assert!(
        is_strict_query(query),
        "query {query:?} is not strictly encoded"
    );
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(decode_query(query), as_bytes(&refs));
    assert!(
        pairs.windows(2).all(|w| w[0].0 <= w[1].0),
        "keys out of order: {pairs:?}"
    );
    // Sorted keys: unless repeated `status` values are out of order, the query
    // on the wire is already the canonical query of the signature.
    if q.status.windows(2).all(|w| w[0] <= w[1]) {
        assert_eq!(signing::canonical_query(query), query);
    }
}

pub fn is_valid_time_filter(t: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%SZ").is_ok() && t.len() == 20
}

pub fn is_valid_text(t: &str) -> bool {
    t.chars().count() <= 255 && !t.chars().any(char::is_control)
}

/// What an accepted ListBackups query must hold.
pub fn assert_accepted_query(q: &BackupQuery) {
    for (field, v) in [
        ("checkpoint_id", &q.checkpoint_id),
        ("marker", &q.marker),
        ("resource_id", &q.resource_id),
        ("vault_id", &q.vault_id),
        ("enterprise_project_id", &q.enterprise_project_id),
        ("parent_id", &q.parent_id),
    ] {
        assert!(
            v.as_deref().is_none_or(domain::is_valid_id),
            "{field} = {v:?} accepted"
        );
    }
    for (field, v) in [
        ("name", &q.name),
        ("resource_az", &q.resource_az),
        ("resource_name", &q.resource_name),
    ] {
        assert!(
            v.as_deref().is_none_or(is_valid_text),
            "{field} = {v:?} accepted"
        );
    }
    assert!(q.limit.is_none_or(|l| (1..=1000).contains(&l)));
    assert!(q.offset.is_none_or(|o| o >= 0));
    assert!(q.used_percent.is_none_or(|p| (1..=100).contains(&p)));
    assert!(
        q.resource_type
            .as_deref()
            .is_none_or(|t| domain::RESOURCE_TYPES.contains(&t))
    );
    for t in [&q.start_time, &q.end_time].into_iter().flatten() {
        assert!(is_valid_time_filter(t), "time filter {t:?}");
    }
    if let (Some(start), Some(end)) = (&q.start_time, &q.end_time) {
        assert!(start <= end);
    }
    assert!(q.status.iter().all(|s| !s.is_empty()));
}

/// Every identifier an accepted CreateCheckpoint carries is a valid ID and
/// every text is within the text rule.
pub fn assert_accepted_create(c: &domain::CreateCheckpoint) {
    assert!(domain::is_valid_id(&c.project_id));
    assert!(domain::is_valid_id(&c.vault_id));
    let Some(p) = &c.parameters else {
        return;
    };
    let mut ids: Vec<&str> = p.resources.iter().map(String::as_str).collect();
    ids.extend(p.name.as_deref());
    ids.extend(p.policy_id.as_deref());
    let mut texts: Vec<&str> = p.description.iter().map(String::as_str).collect();
    assert!(p.resource_details.len() <= 256);
    for r in &p.resource_details {
        ids.push(&r.id);
        assert!(domain::RESOURCE_TYPES.contains(&r.r#type.as_str()));
        texts.extend(r.name.as_deref());
        if let Some(e) = &r.extra_info {
            ids.extend(e.exclude_volumes.iter().map(String::as_str));
            for v in &e.include_volumes {
                ids.push(&v.id);
                texts.extend(v.os_version.as_deref());
            }
        }
    }
    for id in ids {
        assert!(domain::is_valid_id(id), "id {id:?} accepted");
    }
    for t in texts {
        assert!(is_valid_text(t), "text {t:?} accepted");
    }
    if let Some(days) = p.retention_duration_days {
        assert!(days == -1 || (1..=36500).contains(&days));
        assert_ne!(p.auto_trigger, Some(true));
    }
}

/// An accepted CreateCheckpoint obeys the rules, builds its URL and a JSON
/// body naming the vault.
pub fn assert_accepted_create_builds(c: &domain::CreateCheckpoint, endpoint: &Url) {
    assert_accepted_create(c);
    let route = ["v3", c.project_id.as_str(), "checkpoints"];
    let url =
        paths::build(endpoint, &route).unwrap_or_else(|e| panic!("accepted, but no URL: {e}"));
    assert_url_under(endpoint, &route, &url);
    let body = serde_json::to_vec(&dto::CreateCheckpointBody::from(c))
        .unwrap_or_else(|e| panic!("body does not serialise: {e}"));
    let parsed: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("body is not JSON: {e}"));
    assert_eq!(
        parsed["checkpoint"]["vault_id"].as_str(),
        Some(c.vault_id.as_str())
    );
}

/// A refusal names at least one field, each with a description.
pub fn assert_violations(err: &domain::ValidationError) {
    assert!(!err.violations.is_empty());
    for v in &err.violations {
        assert!(!v.field.is_empty() && !v.description.is_empty(), "{v:?}");
    }
}

/// A single-resource read is accepted exactly when the project (or the
/// default) and the ID follow the ID rule, and then builds the URL of all
/// three routes, needing no encoding at all.
pub fn check_get(project_id: &str, id: &str, default: Option<&str>, endpoint: &Url) {
    let result = domain::check_get(project_id, "backup_id", id, default);
    let project_ok = if project_id.is_empty() {
        default.is_some()
    } else {
        domain::is_valid_id(project_id)
    };
    assert_eq!(
        result.is_ok(),
        project_ok && domain::is_valid_id(id),
        "{result:?}"
    );
    match result {
        Ok(r) => {
            assert!(domain::is_valid_id(&r.project_id) && r.id == id);
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
                let url = paths::build(endpoint, &route)
                    .unwrap_or_else(|e| panic!("accepted, but no URL: {e}"));
                assert_url_under(endpoint, &route, &url);
                let tail = format!("/{}", route.join("/"));
                assert!(
                    url.path().ends_with(&tail),
                    "{url} does not end with {tail}"
                );
            }
        }
        Err(e) => assert_violations(&e),
    }
}

/// Whatever ListBackups accepts obeys the rules and builds a URL with a
/// strict, canonical query; what it refuses names the fields.
pub fn check_list(req: &pb::ListBackupsRequest, default: Option<&str>, endpoint: &Url) {
    match domain::check_list_backups(req, default) {
        Ok((project, q)) => {
            assert_accepted_query(&q);
            assert_list_url(endpoint, &project, &q);
        }
        Err(e) => assert_violations(&e),
    }
}

/// StreamBackups checks its filters exactly as ListBackups does (rejecting
/// nothing ListBackups accepts), names `limit` `page_size`, and always sets
/// `limit` and `offset`. `list` carries no marker (StreamBackups has none).
/// Returns what both accepted.
pub fn check_stream_like_list(
    list: &pb::ListBackupsRequest,
    default: Option<&str>,
) -> Option<(String, BackupQuery)> {
    let stream = list.clone().into_stream();
    let by_list = domain::check_list_backups(list, default);
    let by_stream = domain::check_stream_backups(&stream, default);
    match (by_list, by_stream) {
        (Ok((p1, mut q1)), Ok((p2, q2))) => {
            assert_eq!(p1, p2);
            assert!(q2.limit.is_some() && q2.offset.is_some());
            q1.limit = Some(list.limit.unwrap_or(domain::DEFAULT_PAGE_SIZE));
            q1.offset = Some(list.offset.unwrap_or(0));
            assert_eq!(q1, q2);
            Some((p2, q2))
        }
        (Err(mut e1), Err(e2)) => {
            for v in &mut e1.violations {
                if v.field == "limit" {
                    v.field = "page_size".into();
                }
            }
            assert_eq!(e1, e2);
            None
        }
        (a, b) => panic!("list: {a:?}\nstream: {b:?}"),
    }
}

/// Whatever CreateCheckpoint accepts builds its URL and body; what it
/// refuses names the fields.
pub fn check_create(req: pb::CreateCheckpointRequest, default: Option<&str>, endpoint: &Url) {
    match domain::check_create_checkpoint(req, default) {
        Ok(c) => assert_accepted_create_builds(&c, endpoint),
        Err(e) => assert_violations(&e),
    }
}

/// `paths::build` does not rely on validation: any segments either are
/// refused (always when one is empty, `.` or `..`) or end up, encoded, as
/// exactly as many segments under the endpoint.
pub fn check_segments(endpoint: &Url, segments: &[&str]) {
    let unsafe_segment = segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..");
    match paths::build(endpoint, segments) {
        Ok(url) => {
            assert!(!unsafe_segment);
            assert_url_under(endpoint, segments, &url);
        }
        Err(PathError::UnsafeSegment) => {}
        Err(e) => panic!("{e} for {segments:?} under {endpoint}"),
    }
}

/// `encode_query` is strict and lossless for any pairs, and its output
/// canonicalises to the pairs sorted by key then value.
pub fn check_encoded_query(pairs: &[(&str, &str)]) {
    let query = paths::encode_query(pairs);
    assert!(is_strict_query(&query), "{query:?}");
    if !pairs.is_empty() {
        assert_eq!(decode_query(&query), as_bytes(pairs));
    }
    let mut sorted = pairs.to_vec();
    sorted.sort_by(|a, b| (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes())));
    assert_eq!(
        signing::canonical_query(&query),
        paths::encode_query(&sorted)
    );
}

/// A query built from `pairs` under `segments` stays under the endpoint, is
/// strictly encoded, decodes to the pairs, and is already canonical for the
/// signature (keys in order).
pub fn assert_pairs_url(endpoint: &Url, segments: &[&str], pairs: &[(&'static str, String)]) {
    let mut url =
        paths::build(endpoint, segments).unwrap_or_else(|e| panic!("accepted, but no URL: {e}"));
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if !pairs.is_empty() {
        url.set_query(Some(&paths::encode_query(&refs)));
    }
    assert_url_under(endpoint, segments, &url);
    let Some(query) = url.query() else {
        assert!(pairs.is_empty());
        return;
    };
    assert!(
        is_strict_query(query),
        "query {query:?} is not strictly encoded"
    );
    assert_eq!(decode_query(query), as_bytes(&refs));
    assert!(
        pairs.windows(2).all(|w| w[0].0 < w[1].0),
        "keys out of order or repeated: {pairs:?}"
    );
    assert_eq!(signing::canonical_query(query), query);
}

/// Whatever ListVaults accepts builds a strict URL whose list values are
/// valid IDs (so the comma that joins them is unambiguous); what it refuses
/// names the fields.
pub fn check_list_vaults(req: &pb::ListVaultsRequest, default: Option<&str>, endpoint: &Url) {
    match domain::check_list_vaults(req, default) {
        Ok((project, q)) => {
            assert!(domain::is_valid_id(&project));
            for id in q.id.iter().chain(&q.resource_ids) {
                assert!(domain::is_valid_id(id), "{id:?} accepted");
            }
            assert!(q.limit.is_none_or(|l| (1..=1000).contains(&l)));
            assert!(q.offset.is_none_or(|o| o >= 0));
            assert_pairs_url(endpoint, &["v3", &project, "vaults"], &q.pairs());
        }
        Err(e) => assert_violations(&e),
    }
}

/// Whatever ListOperationLogs accepts builds a strict URL with upstream's
/// time format; what it refuses names the fields.
pub fn check_list_operation_logs(
    req: &pb::ListOperationLogsRequest,
    default: Option<&str>,
    endpoint: &Url,
) {
    match domain::check_list_operation_logs(req, default) {
        Ok((project, q)) => {
            assert!(domain::is_valid_id(&project));
            for t in [&q.start_time, &q.end_time].into_iter().flatten() {
                assert!(is_valid_time_filter(t), "{t:?}");
            }
            if let (Some(s), Some(e)) = (&q.start_time, &q.end_time) {
                assert!(s <= e);
            }
            for t in [&q.resource_name, &q.vault_name].into_iter().flatten() {
                assert!(is_valid_text(t), "{t:?}");
            }
            assert_pairs_url(endpoint, &["v3", &project, "operation-logs"], &q.pairs());
        }
        Err(e) => assert_violations(&e),
    }
}
