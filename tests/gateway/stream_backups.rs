//! StreamBackups through the gateway against the built-in simulator over
//! loopback: every page walked once, filters, offset, bad input, an upstream
//! failure mid-walk, cancellation and the deadline; and against wiremock
//! upstreams whose pages never end (offset ignored, full pages past `count`).
//!
//! The tests run on tokio's current-thread runtime, so the simulator, the
//! gateway and the test share one thread: the simulator counts a request and
//! decides its faults in one poll, which the test cannot interleave with.

use crate::common;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use cbr_gateway::proto as pb;
use cbr_simulator::{Embedded, SimulatorSettings, faults::FaultRule};
use common::*;
use tonic::{Code, Streaming};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

struct Stack {
    gw: Gateway,
    sim: Embedded,
}

impl Stack {
    async fn start(fleet_size: usize) -> Stack {
        let (gw, sim) = TestStack::builder()
            .simulator(SimulatorSettings {
                fleet_size,
                ..Default::default()
            })
            .project(PROJECT)
            .spawn()
            .await
            .into_parts();
        Stack { gw, sim }
    }

    /// List requests the simulator has received so far.
    fn list_requests(&self) -> u64 {
        self.sim.state.stats.snapshot()["list_backups"]
    }

    fn faults(&self, rules: &[&str]) {
        self.sim.state.faults.replace(
            rules
                .iter()
                .map(|r| r.parse::<FaultRule>().unwrap())
                .collect(),
        );
    }

    /// The IDs ListBackups gives for `filter`, walked 1000 at a time.
    async fn listed(&self, filter: pb::ListBackupsRequest) -> Vec<String> {
        let mut ids = Vec::new();
        loop {
            let page = self
                .gw
                .backups()
                .list_backups(pb::ListBackupsRequest {
                    limit: Some(1000),
                    offset: Some(i32::try_from(ids.len()).unwrap()),
                    ..filter.clone()
                })
                .await
                .unwrap()
                .into_inner();
            let n = page.backups.len();
            ids.extend(page.backups.into_iter().map(|b| b.id));
            if n < 1000 {
                return ids;
            }
        }
    }

    async fn open(&self, req: pb::StreamBackupsRequest) -> Streaming<pb::StreamBackupsResponse> {
        self.gw
            .backups()
            .stream_backups(req)
            .await
            .unwrap()
            .into_inner()
    }
}

/// Every backup of a stream, and the status that ended it if it was not OK.
async fn drain(
    mut stream: Streaming<pb::StreamBackupsResponse>,
) -> (Vec<pb::Backup>, Option<tonic::Status>) {
    let mut got = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(m)) => got.push(m.backup.expect("each message carries a backup")),
            Ok(None) => return (got, None),
            Err(status) => return (got, Some(status)),
        }
    }
}

fn ids(backups: &[pb::Backup]) -> Vec<String> {
    backups.iter().map(|b| b.id.clone()).collect()
}

/// Requests a walk of `remaining` backups makes: one per page, the last one
/// short — an empty one when every page before it was full.
fn pages_for(remaining: usize, page_size: usize) -> u64 {
    (remaining / page_size + 1) as u64
}

#[tokio::test]
async fn every_backup_once_in_newest_first_order() {
    let s = Stack::start(3000).await;
    let expected = s.listed(pb::ListBackupsRequest::default()).await;
    let n = expected.len();
    assert!(n > 3000, "the fleet and the seeds: {n}");
    assert_eq!(
        expected.iter().collect::<HashSet<_>>().len(),
        n,
        "listing ids are unique"
    );

    let before = s.list_requests();
    let (got, end) = drain(
        s.open(pb::StreamBackupsRequest {
            page_size: Some(250),
            ..Default::default()
        })
        .await,
    )
    .await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&got), expected, "each backup once, in listing order");
    for pair in got.windows(2) {
        let (a, b) = (pair[0].created_at.unwrap(), pair[1].created_at.unwrap());
        assert!((a.seconds, a.nanos) >= (b.seconds, b.nanos), "newest first");
    }
    assert_eq!(s.list_requests() - before, pages_for(n, 250));

    // Unset page size: 1000.
    let before = s.list_requests();
    let (got, end) = drain(s.open(pb::StreamBackupsRequest::default()).await).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&got), expected);
    assert_eq!(s.list_requests() - before, pages_for(n, 1000));
}

#[tokio::test]
async fn offset_is_where_the_walk_starts() {
    let s = Stack::start(3000).await;
    let expected = s.listed(pb::ListBackupsRequest::default()).await;
    let n = expected.len();

    // Chosen so that every page is full: the walk ends on an empty page.
    let offset = n % 250 + 500;
    let before = s.list_requests();
    let (got, end) = drain(
        s.open(pb::StreamBackupsRequest {
            page_size: Some(250),
            offset: Some(i32::try_from(offset).unwrap()),
            ..Default::default()
        })
        .await,
    )
    .await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&got), expected[offset..]);
    assert_eq!((n - offset) % 250, 0);
    assert_eq!(s.list_requests() - before, pages_for(n - offset, 250));

    // Past the end: one empty page, nothing streamed.
    let (got, end) = drain(
        s.open(pb::StreamBackupsRequest {
            offset: Some(i32::try_from(n + 10).unwrap()),
            ..Default::default()
        })
        .await,
    )
    .await;
    assert!(end.is_none() && got.is_empty(), "{end:?} {}", got.len());
}

#[tokio::test]
async fn filters_apply_to_every_page() {
    let s = Stack::start(3000).await;
    let status = vec![
        pb::BackupStatus::Error as i32,
        pb::BackupStatus::Available as i32,
    ];
    let volumes = "OS::Cinder::Volume";
    let expected = s
        .listed(pb::ListBackupsRequest {
            status: status.clone(),
            resource_type: volumes.into(),
            sort: "name:asc".into(),
            ..Default::default()
        })
        .await;
    assert!(expected.len() > 100, "{}", expected.len());

    let before = s.list_requests();
    let (got, end) = drain(
        s.open(pb::StreamBackupsRequest {
            status,
            resource_type: volumes.into(),
            sort: "name:asc".into(),
            page_size: Some(7),
            ..Default::default()
        })
        .await,
    )
    .await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&got), expected);
    for b in &got {
        assert_eq!(b.resource_type, volumes);
        assert!(matches!(
            b.status(),
            pb::BackupStatus::Error | pb::BackupStatus::Available
        ));
    }
    for pair in got.windows(2) {
        assert!(pair[0].name <= pair[1].name, "sorted by name");
    }
    assert_eq!(s.list_requests() - before, pages_for(expected.len(), 7));
}

#[tokio::test]
async fn bad_input_fails_the_call_before_any_upstream_request() {
    let s = Stack::start(10).await;
    let before = s.list_requests();
    let cases = [
        (
            pb::StreamBackupsRequest {
                page_size: Some(0),
                ..Default::default()
            },
            vec!["page_size"],
        ),
        (
            pb::StreamBackupsRequest {
                page_size: Some(1001),
                ..Default::default()
            },
            vec!["page_size"],
        ),
        (
            pb::StreamBackupsRequest {
                offset: Some(-1),
                ..Default::default()
            },
            vec!["offset"],
        ),
        (
            pb::StreamBackupsRequest {
                page_size: Some(-5),
                resource_type: "OS::Nope".into(),
                checkpoint_id: "../x".into(),
                status: vec![0],
                ..Default::default()
            },
            vec!["page_size", "resource_type", "status[0]", "checkpoint_id"],
        ),
    ];
    for (req, fields) in cases {
        let status = s.gw.backups().stream_backups(req).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let mut named = bad_fields(&status);
        let mut fields: Vec<String> = fields.into_iter().map(String::from).collect();
        named.sort();
        fields.sort();
        assert_eq!(named, fields);
    }
    assert_eq!(s.list_requests(), before, "nothing reached upstream");
    // The edges of the range are fine.
    for page_size in [1, 1000] {
        let (got, end) = drain(
            s.open(pb::StreamBackupsRequest {
                page_size: Some(page_size),
                ..Default::default()
            })
            .await,
        )
        .await;
        assert!(end.is_none() && !got.is_empty(), "{end:?}");
    }
}

#[tokio::test]
async fn a_project_outside_the_allowed_ones_is_refused() {
    let gw = TestStack::builder()
        .simulator(SimulatorSettings {
            fleet_size: 10,
            ..Default::default()
        })
        .settings(|s| s.access.allowed_projects = vec![PROJECT.into()])
        .spawn()
        .await;
    let sim = gw.sim();
    let status = gw
        .backups()
        .stream_backups(pb::StreamBackupsRequest {
            project_id: "someoneelse".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(sim.state.stats.snapshot()["list_backups"], 0);
}

#[tokio::test]
async fn an_upstream_failure_mid_walk_ends_the_stream_after_the_pages_sent() {
    let s = Stack::start(3000).await;
    let expected = s.listed(pb::ListBackupsRequest::default()).await;
    // The first page is held for a while; once the simulator has counted it
    // (and, in the same poll, decided it succeeds) every later page fails.
    s.faults(&["route=list_backups,latency=300ms"]);
    let before = s.list_requests();
    let stream = s
        .open(pb::StreamBackupsRequest {
            page_size: Some(500),
            ..Default::default()
        })
        .await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while s.list_requests() == before {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the first page is requested");
    s.faults(&["route=list_backups,error_rate=1,status=500"]);

    let (got, end) = drain(stream).await;
    let status = end.expect("the stream fails");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert_eq!(status.message(), "simulated fault");
    let info = details(&status).error_info().cloned().unwrap();
    assert_eq!(info.reason, "BackupService.9910");
    assert_eq!(info.metadata["http_status"], "500");
    assert_eq!(ids(&got), expected[..500], "the first page, then the error");
    // The walk stopped at the failed page.
    assert_eq!(s.list_requests() - before, 2);
}

#[tokio::test]
async fn a_cancelled_stream_stops_the_walk() {
    let s = Stack::start(3000).await;
    // 31 pages of 100, each taking 100 ms upstream.
    s.faults(&["route=list_backups,latency=100ms"]);
    let before = s.list_requests();
    let mut stream = s
        .open(pb::StreamBackupsRequest {
            page_size: Some(100),
            ..Default::default()
        })
        .await;
    let first = stream.message().await.unwrap().unwrap();
    assert!(first.backup.is_some());
    // The second page is fetched while the first one streams.
    tokio::time::timeout(Duration::from_secs(10), async {
        while s.list_requests() - before < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the next page is prefetched");
    // Leave while that page is still upstream.
    drop(stream);
    assert_eq!(s.list_requests() - before, 2);

    // Proving that nothing more happens takes a wait: ten pages' worth of
    // upstream latency, in which an uncancelled walk would fetch ten more.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = s.list_requests() - before;
    assert_eq!(after, 2, "the walk went on after the caller left");
}

#[tokio::test]
async fn the_deadline_ends_the_stream() {
    let s = Stack::start(3000).await;
    s.faults(&["route=list_backups,latency=100ms"]);
    // Through tonic's client, which also enforces the timeout itself.
    let before = s.list_requests();
    let started = Instant::now();
    let mut call = tonic::Request::new(pb::StreamBackupsRequest {
        page_size: Some(100),
        ..Default::default()
    });
    call.set_timeout(Duration::from_millis(350));
    let outcome = match s.gw.backups().stream_backups(call).await {
        Ok(stream) => drain(stream.into_inner()).await,
        Err(status) => (vec![], Some(status)),
    };
    let status = outcome.1.expect("the stream fails");
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    assert!(outcome.0.len() < 3000, "{}", outcome.0.len());
    assert!(started.elapsed() < Duration::from_secs(3));

    // Over a bare HTTP/2 connection, nothing but the server ends the call.
    // (That client never returns flow-control credit, so the stream is kept
    // within the first window: one backup per page.)
    let started = Instant::now();
    let raw = raw_grpc_call(
        s.gw.addr,
        "/cbr.gateway.v1.BackupService/StreamBackups",
        &pb::StreamBackupsRequest {
            page_size: Some(1),
            ..Default::default()
        },
        &[("grpc-timeout", "350m")],
    )
    .await;
    assert_eq!(raw.code, Code::DeadlineExceeded as i32, "{}", raw.message);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    // Two calls of ~4 pages each, nowhere near the 62 of two full walks.
    assert!(s.list_requests() - before <= 12);
}

/// A ListBackups page of backups with these IDs, and upstream's `count`.
fn backup_page(ids: impl IntoIterator<Item = String>, count: u64) -> ResponseTemplate {
    let backups: Vec<serde_json::Value> = ids
        .into_iter()
        .map(|id| serde_json::json!({"id": id, "name": id, "status": "available"}))
        .collect();
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "backups": backups,
        "count": count,
    }))
}

/// A gateway whose CBR is `upstream`, answering ListBackups with `respond`.
async fn broken_lister(respond: impl wiremock::Respond + 'static) -> (MockServer, Gateway) {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/{PROJECT}/backups")))
        .respond_with(respond)
        .mount(&upstream)
        .await;
    let gw = Gateway::against(&upstream).await;
    (upstream, gw)
}

fn paging_broken(end: Option<tonic::Status>) -> tonic::Status {
    let status = end.expect("the stream ends with an error");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    let d = details(&status);
    let info = d.error_info().expect("ErrorInfo detail");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("UPSTREAM_PAGING_BROKEN", "cbr-gateway")
    );
    status
}

#[tokio::test]
async fn an_upstream_ignoring_offset_ends_the_stream_with_internal() {
    // The same full page whatever the offset, and a count that never ends it.
    let same = || (0..3).map(|i| format!("same-{i}"));
    let (upstream, gw) = broken_lister(backup_page(same(), 1_000_000)).await;
    let (got, end) = drain(
        gw.backups()
            .stream_backups(pb::StreamBackupsRequest {
                project_id: PROJECT.into(),
                page_size: Some(3),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner(),
    )
    .await;
    // The page once, then the reason.
    assert_eq!(ids(&got), same().collect::<Vec<_>>());
    let status = paging_broken(end);
    assert_eq!(
        status.message(),
        "upstream repeated a page of 3 backups at offset 6 (offset ignored?); \
         stopping after 3 backups"
    );
    // The first repeat is skipped (new backups shift pages too), the second ends it.
    let offsets: Vec<String> = upstream
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "offset")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(offsets, ["0", "3", "6"]);
}

#[tokio::test]
async fn an_upstream_with_full_pages_past_its_count_ends_the_stream_with_internal() {
    // count says 5, but every offset has a full page of new IDs.
    let (upstream, gw) = broken_lister(|req: &wiremock::Request| {
        let offset: u64 = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "offset")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        backup_page((offset..offset + 2).map(|i| format!("b-{i}")), 5)
    })
    .await;
    let (got, end) = drain(
        gw.backups()
            .stream_backups(pb::StreamBackupsRequest {
                project_id: PROJECT.into(),
                page_size: Some(2),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner(),
    )
    .await;
    // Pages at 0, 2 and 4 (the walk may reach the count; that page is sent),
    // but none from 6, past the count.
    let want: Vec<String> = (0..6).map(|i| format!("b-{i}")).collect();
    assert_eq!(ids(&got), want);
    let status = paging_broken(end);
    assert_eq!(
        status.message(),
        "upstream kept sending full pages past its count of 5; stopping after 6 backups"
    );
    assert_eq!(upstream.received_requests().await.unwrap().len(), 3);
}
