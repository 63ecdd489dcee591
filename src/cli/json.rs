//! Protobuf JSON: the canonical proto3 mapping (lowerCamelCase names, enums by
//! name, RFC 3339 timestamps, default values left out), the same text grpcurl
//! and every protobuf library print, so `jq` filters work on either.

use std::sync::LazyLock;

use prost::{Message, Name};
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

use super::CliError;
use crate::proto::FILE_DESCRIPTOR_SET;

/// The gateway's own descriptors (and the well-known types they import).
static POOL: LazyLock<Result<DescriptorPool, String>> =
    LazyLock::new(|| DescriptorPool::decode(FILE_DESCRIPTOR_SET).map_err(|e| e.to_string()));

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
}
