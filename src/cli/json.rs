//! Protobuf JSON: the canonical proto3 mapping (lowerCamelCase names, enums by
//! name, RFC 3339 timestamps, default values left out), the same text grpcurl
//! and every protobuf library print, so `jq` filters work on either.

use std::sync::LazyLock;

use prost::{Message, Name};
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use prost_types::FileDescriptorProto;

use super::CliError;
use crate::proto::FILE_DESCRIPTOR_SET;

/// The gateway's own descriptors (and the well-known types they import),
/// and google.rpc's error details.
static POOL: LazyLock<Result<DescriptorPool, String>> = LazyLock::new(|| {
    let mut pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())?;
    pool.add_file_descriptor_proto(error_details())
        .map_err(|e| e.to_string())?;
    Ok(pool)
});

/// `google/rpc/error_details.proto`'s messages (field numbers as Google's).
/// A failed operation's `error` packs them (`ErrorInfo` with upstream's
/// code, `RequestInfo`, …) in `Any`s, and protobuf JSON must know a packed
/// message to print it; the gateway's descriptor set holds only what its
/// own protos import, and error details are attached in code instead.
fn error_details() -> FileDescriptorProto {
    use prost_types::{
        DescriptorProto, FieldDescriptorProto, MessageOptions,
        field_descriptor_proto::{Label, Type},
    };
    fn field(
        name: &str,
        number: i32,
        ty: Type,
        type_name: &str,
        repeated: bool,
    ) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.into()),
            json_name: Some(heck_lower_camel(name)),
            number: Some(number),
            label: Some(if repeated {
                Label::Repeated
            } else {
                Label::Optional
            } as i32),
            r#type: Some(ty as i32),
            type_name: (!type_name.is_empty()).then(|| type_name.into()),
            ..Default::default()
        }
    }
    let string = |name: &str, number: i32| field(name, number, Type::String, "", false);
    let strings = |name: &str, number: i32| field(name, number, Type::String, "", true);
    let message = |name: &str, fields: Vec<FieldDescriptorProto>, nested: Vec<DescriptorProto>| {
        DescriptorProto {
            name: Some(name.into()),
            field: fields,
            nested_type: nested,
            ..Default::default()
        }
    };
    let map_entry = DescriptorProto {
        options: Some(MessageOptions {
            map_entry: Some(true),
            ..Default::default()
        }),
        ..message(
            "MetadataEntry",
            vec![string("key", 1), string("value", 2)],
            vec![],
        )
    };
    let messages = vec![
        message(
            "ErrorInfo",
            vec![
                string("reason", 1),
                string("domain", 2),
                field(
                    "metadata",
                    3,
                    Type::Message,
                    ".google.rpc.ErrorInfo.MetadataEntry",
                    true,
                ),
            ],
            vec![map_entry],
        ),
        message(
            "RetryInfo",
            vec![field(
                "retry_delay",
                1,
                Type::Message,
                ".google.protobuf.Duration",
                false,
            )],
            vec![],
        ),
        message(
            "DebugInfo",
            vec![strings("stack_entries", 1), string("detail", 2)],
            vec![],
        ),
        message(
            "QuotaFailure",
            vec![field(
                "violations",
                1,
                Type::Message,
                ".google.rpc.QuotaFailure.Violation",
                true,
            )],
            vec![message(
                "Violation",
                vec![string("subject", 1), string("description", 2)],
                vec![],
            )],
        ),
        message(
            "PreconditionFailure",
            vec![field(
                "violations",
                1,
                Type::Message,
                ".google.rpc.PreconditionFailure.Violation",
                true,
            )],
            vec![message(
                "Violation",
                vec![
                    string("type", 1),
                    string("subject", 2),
                    string("description", 3),
                ],
                vec![],
            )],
        ),
        message(
            "BadRequest",
            vec![field(
                "field_violations",
                1,
                Type::Message,
                ".google.rpc.BadRequest.FieldViolation",
                true,
            )],
            vec![message(
                "FieldViolation",
                vec![
                    string("field", 1),
                    string("description", 2),
                    string("reason", 3),
                    field(
                        "localized_message",
                        4,
                        Type::Message,
                        ".google.rpc.LocalizedMessage",
                        false,
                    ),
                ],
                vec![],
            )],
        ),
        message(
            "RequestInfo",
            vec![string("request_id", 1), string("serving_data", 2)],
            vec![],
        ),
        message(
            "ResourceInfo",
            vec![
                string("resource_type", 1),
                string("resource_name", 2),
                string("owner", 3),
                string("description", 4),
            ],
            vec![],
        ),
        message(
            "Help",
            vec![field(
                "links",
                1,
                Type::Message,
                ".google.rpc.Help.Link",
                true,
            )],
            vec![message(
                "Link",
                vec![string("description", 1), string("url", 2)],
                vec![],
            )],
        ),
        message(
            "LocalizedMessage",
            vec![string("locale", 1), string("message", 2)],
            vec![],
        ),
    ];
    FileDescriptorProto {
        name: Some("google/rpc/error_details.proto".into()),
        package: Some("google.rpc".into()),
        dependency: vec!["google/protobuf/duration.proto".into()],
        message_type: messages,
        syntax: Some("proto3".into()),
        ..Default::default()
    }
}

/// `field_name` → `fieldName`, as protoc names JSON fields.
fn heck_lower_camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// One message as a single line of JSON.
pub fn to_line<M: Message + Name>(message: &M) -> Result<String, CliError> {
    let pool = POOL.as_ref().map_err(|e| CliError::Json(e.clone()))?;
    let name = M::full_name();
    let descriptor = pool
        .get_message_by_name(&name)
        .ok_or_else(|| CliError::Json(format!("no descriptor for {name}")))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| CliError::Json(e.to_string()))?;
    let mut out = serde_json::Serializer::new(Vec::new());
    dynamic
        .serialize_with_options(&mut out, &SerializeOptions::new())
        .map_err(|e| CliError::Json(e.to_string()))?;
    String::from_utf8(out.into_inner()).map_err(|e| CliError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto as pb;

    #[test]
    fn canonical_proto3_json() {
        let message = pb::WatchCheckpointResponse {
            kind: pb::WatchEventKind::Changed as i32,
            checkpoint: Some(pb::Checkpoint {
                id: "c1".into(),
                status: pb::CheckpointStatus::Available as i32,
                created_at: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            changes: vec!["status: a -> b".into()],
            ..Default::default()
        };
        let line = to_line(&message).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["kind"], "WATCH_EVENT_KIND_CHANGED");
        assert_eq!(v["checkpoint"]["status"], "CHECKPOINT_STATUS_AVAILABLE");
        assert_eq!(v["checkpoint"]["createdAt"], "2023-11-14T22:13:20Z");
        assert_eq!(v["changes"][0], "status: a -> b");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn a_failed_operations_error_details_print() {
        use tonic_types::{ErrorDetails, StatusExt};
        let mut details = ErrorDetails::new();
        details
            .set_error_info(
                "BackupService.2008",
                "cbr.myhuaweicloud.com",
                [("http_status".to_owned(), "400".to_owned())],
            )
            .set_request_info("req-1", "")
            .set_retry_info(Some(std::time::Duration::from_secs(2)))
            .set_bad_request(vec![tonic_types::FieldViolation::new("name", "bad")]);
        let status = tonic::Status::with_error_details(
            tonic::Code::FailedPrecondition,
            "The server cannot be restored.",
            details,
        );
        let op = crate::proto::google::longrunning::Operation {
            name: "projects/p/operations/restore.l".into(),
            done: true,
            metadata: None,
            result: Some(crate::proto::google::longrunning::operation::Result::Error(
                <crate::proto::google::rpc::Status as Message>::decode(status.details()).unwrap(),
            )),
        };
        let v: serde_json::Value = serde_json::from_str(&to_line(&op).unwrap()).unwrap();
        let info = v["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
            .expect("the ErrorInfo");
        assert_eq!(info["reason"], "BackupService.2008");
        assert_eq!(info["metadata"]["http_status"], "400");
        let all = v.to_string();
        for s in [
            "\"requestId\":\"req-1\"",
            "\"retryDelay\":\"2s\"",
            "\"fieldViolations\"",
        ] {
            assert!(all.contains(s), "{s} in {all}");
        }
    }
}
