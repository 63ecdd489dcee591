//! Discoverability: server reflection v1 and v1alpha list every service and
//! resolve the API, health and `google.rpc` symbols; Health reports SERVING.

use crate::common;

use common::*;
use tokio_stream::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::{v1, v1alpha};
use wiremock::MockServer;

const SERVICES: &[&str] = &[
    "cbr.gateway.v1.BackupService",
    "cbr.gateway.v1.CheckpointItemService",
    "cbr.gateway.v1.CheckpointService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Symbols whose files reflection must serve: the API, health, and the error
/// details grpcurl decodes.
const SYMBOLS: &[&str] = &[
    "cbr.gateway.v1.BackupService",
    "cbr.gateway.v1.CheckpointItem",
    "grpc.health.v1.Health",
    "google.rpc.ErrorInfo",
    "google.rpc.BadRequest",
    "google.rpc.RequestInfo",
];

#[tokio::test]
async fn reflection_v1_lists_and_resolves() {
    let upstream = MockServer::start().await;
    let gw = Gateway::against(&upstream).await;
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(gw.channel.clone());
    let mut requests = vec![v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    }];
    for s in SYMBOLS {
        requests.push(v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1::server_reflection_request::MessageRequest::FileContainingSymbol((*s).into()),
            ),
        });
    }
    let mut answers = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let first = answers.next().await.unwrap().unwrap();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        first.message_response
    else {
        panic!("expected a service list, got {first:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in SERVICES {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    for symbol in SYMBOLS {
        let answer = answers.next().await.unwrap().unwrap();
        match answer.message_response {
            Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(f)) => {
                assert!(!f.file_descriptor_proto.is_empty(), "{symbol}");
            }
            other => panic!("{symbol}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn reflection_v1alpha_lists_and_resolves() {
    let upstream = MockServer::start().await;
    let gw = Gateway::against(&upstream).await;
    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(gw.channel.clone());
    let mut requests = vec![v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    }];
    for s in SYMBOLS {
        requests.push(v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                    (*s).into(),
                ),
            ),
        });
    }
    let mut answers = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let first = answers.next().await.unwrap().unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        first.message_response
    else {
        panic!("expected a service list, got {first:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in SERVICES {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    for symbol in SYMBOLS {
        let answer = answers.next().await.unwrap().unwrap();
        assert!(
            matches!(
                answer.message_response,
                Some(
                    v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(_)
                )
            ),
            "{symbol}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn health_serves_every_service() {
    let upstream = MockServer::start().await;
    let gw = Gateway::against(&upstream).await;
    let mut health = HealthClient::new(gw.channel.clone());
    for service in [
        "",
        "cbr.gateway.v1.CheckpointService",
        "cbr.gateway.v1.BackupService",
        "cbr.gateway.v1.CheckpointItemService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}
