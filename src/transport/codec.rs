//! The gRPC codec of the API: prost, with one look at a request's repeated
//! fields before it is decoded.
//!
//! A 4 MB protobuf can hold four million repeated varints or two million
//! empty strings; decoding them alone builds tens of megabytes, and anything
//! done per element multiplies that (PITFALLS.md: one such request grew the
//! process by 1.6 GB). So before prost decodes a request, [`check`] walks its
//! bytes — without allocating — and counts every repeated field against its
//! cap in [`crate::domain::REPEATED_CAPS`], nested messages included; one
//! over its cap fails the call with INVALID_ARGUMENT naming the field, and
//! nothing is decoded. The walk costs a pass over the bytes, which tonic has
//! already buffered; messages with no repeated field anywhere (most reads)
//! skip it.
//!
//! The generated services and clients use this codec (`build.rs`,
//! `codec_path`); for messages that have no caps — every response — it is
//! prost's.

use std::{collections::HashMap, marker::PhantomData, sync::LazyLock};

use prost::{Message, Name};
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use tonic::{
    Status,
    codec::{BufferSettings, DecodeBuf},
};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

use crate::{
    domain::{REPEATED_CAPS, RepeatedCap, ValidationError},
    error::GatewayError,
};

/// The response encoder's buffer: tonic allocates it per RPC up front (8 KiB
/// by default) and keeps it for the RPC's life, which for a watch stream is
/// hours. Most answers are well under 1 KiB; a larger one grows the buffer.
/// The default yield threshold stays (it only bounds batching).
fn encode_buffer() -> BufferSettings {
    BufferSettings::new(1024, 32 * 1024)
}

/// Deepest nesting walked; prost itself stops at 100.
const MAX_DEPTH: u32 = 64;
/// Cap of a repeated field missing from [`REPEATED_CAPS`] (a test keeps the
/// table complete; this only bounds a mistake).
const FALLBACK_CAP: usize = 1_000;

/// See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct Codec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Name + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = Decoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(encode_buffer())
    }

    fn decoder(&mut self) -> Self::Decoder {
        Decoder {
            inner: ProstCodec::<T, U>::raw_decoder(BufferSettings::default()),
            schema: SCHEMAS.by_name.get(U::full_name().as_str()).copied(),
        }
    }
}

/// Prost's decoder behind the repeated-field check.
#[derive(Debug)]
pub(crate) struct Decoder<U> {
    inner: ProstDecoder<U>,
    /// The message's schema, when it has repeated fields to count.
    schema: Option<usize>,
}

impl<U: Message + Default> tonic::codec::Decoder for Decoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        use prost::bytes::Buf as _;
        if let Some(schema) = self.schema {
            // tonic hands over the whole message in one contiguous buffer.
            let bytes = buf.chunk();
            debug_assert_eq!(bytes.len(), buf.remaining());
            if let Err(over) = check(&SCHEMAS, schema, bytes) {
                let error = ValidationError::single(over.path(), over.description());
                return Err(GatewayError::InvalidArgument(error).to_status());
            }
        }
        self.inner.decode(buf)
    }

    fn buffer_settings(&self) -> BufferSettings {
        tonic::codec::Decoder::buffer_settings(&self.inner)
    }
}

/// What the walk needs to know of one field.
#[derive(Debug, Clone)]
struct FieldRule {
    name: String,
    /// `Some`: repeated, with this cap.
    cap: Option<usize>,
    /// How many elements a packed (length-delimited) value holds.
    packed: Packed,
    /// The schema of a message-typed field worth walking into.
    message: Option<usize>,
    /// The cap's reason, for the error.
    per_enum: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Packed {
    /// Not a packable scalar: one element per occurrence.
    No,
    Varint,
    Fixed32,
    Fixed64,
}

/// The fields of one message that matter to the walk, by number.
#[derive(Debug, Default)]
struct MessageRule {
    fields: HashMap<u32, FieldRule>,
}

/// Every request message with repeated fields somewhere inside it.
#[derive(Debug, Default)]
struct Schemas {
    messages: Vec<MessageRule>,
    by_name: HashMap<String, usize>,
}

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    let pool = DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET)
        .expect("the compiled descriptor set decodes");
    Schemas::of(&pool)
});

impl Schemas {
    /// The schemas of the API's request messages (and everything they hold).
    fn of(pool: &DescriptorPool) -> Self {
        let mut schemas = Schemas::default();
        for service in pool.services() {
            for method in service.methods() {
                schemas.add(&method.input(), 0);
            }
        }
        schemas
    }

    /// Adds `message` if anything in it is repeated; returns its index.
    fn add(&mut self, message: &MessageDescriptor, depth: u32) -> Option<usize> {
        if let Some(&i) = self.by_name.get(message.full_name()) {
            return Some(i);
        }
        if depth > 16 {
            return None;
        }
        let mut rule = MessageRule::default();
        for field in message.fields() {
            let sub = match field.kind() {
                Kind::Message(m) => self.add(&m, depth + 1),
                _ => None,
            };
            if !field.is_list() && sub.is_none() {
                continue;
            }
            rule.fields.insert(field.number(), field_rule(&field, sub));
        }
        if rule.fields.is_empty() {
            return None;
        }
        let i = self.messages.len();
        self.messages.push(rule);
        self.by_name.insert(message.full_name().to_owned(), i);
        Some(i)
    }
}

fn field_rule(field: &FieldDescriptor, message: Option<usize>) -> FieldRule {
    let (cap, per_enum) = if field.is_list() {
        let listed = REPEATED_CAPS
            .iter()
            .find(|(name, _)| *name == field.full_name())
            .map(|(_, cap)| *cap);
        match (listed, field.kind()) {
            (Some(RepeatedCap::Max(n)), _) => (Some(n), None),
            (Some(RepeatedCap::EnumValues), Kind::Enum(e)) => {
                let values = e.values().filter(|v| v.number() != 0).count();
                (Some(values), Some(e.name().to_owned()))
            }
            _ => (Some(FALLBACK_CAP), None),
        }
    } else {
        (None, None)
    };
    let packed = match field.kind() {
        _ if !field.is_list() => Packed::No,
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => Packed::Fixed64,
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => Packed::Fixed32,
        Kind::Int32
        | Kind::Int64
        | Kind::Uint32
        | Kind::Uint64
        | Kind::Sint32
        | Kind::Sint64
        | Kind::Bool
        | Kind::Enum(_) => Packed::Varint,
        Kind::String | Kind::Bytes | Kind::Message(_) => Packed::No,
    };
    FieldRule {
        name: field.name().to_owned(),
        cap,
        packed,
        message,
        per_enum,
    }
}

/// A repeated field over its cap: where, and what the cap is.
#[derive(Debug, PartialEq, Eq)]
struct Over {
    /// Field names and indexes, innermost first.
    path: Vec<String>,
    cap: usize,
    per_enum: Option<String>,
}

impl Over {
    /// AIP-193 field path: `parameters.resource_details[3].extra_info.include_volumes`.
    fn path(&self) -> String {
        let mut out = String::new();
        for part in self.path.iter().rev() {
            if !out.is_empty() && !part.starts_with('[') {
                out.push('.');
            }
            out.push_str(part);
        }
        out
    }

    fn description(&self) -> String {
        match &self.per_enum {
            Some(e) => format!("must have at most {} entries (one per {e} value)", self.cap),
            None => format!("must have at most {} entries", self.cap),
        }
    }
}

/// Reads a varint; `None` when truncated or longer than 10 bytes.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Counts the repeated fields of `bytes`, a message of schema `index`.
/// Malformed input ends the walk quietly: prost reports it right after.
fn check(schemas: &Schemas, index: usize, bytes: &[u8]) -> Result<(), Over> {
    walk(schemas, index, bytes, 0)
}

fn walk(schemas: &Schemas, index: usize, bytes: &[u8], depth: u32) -> Result<(), Over> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let rule = &schemas.messages[index];
    // Elements seen per repeated field number of this message.
    let mut counts: Vec<(u32, usize)> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some((key, n)) = varint(&bytes[at..]) else {
            return Ok(());
        };
        at += n;
        let number = u32::try_from(key >> 3).unwrap_or(0);
        let value: &[u8] = match key & 7 {
            0 => {
                let Some((_, n)) = varint(&bytes[at..]) else {
                    return Ok(());
                };
                at += n;
                &[]
            }
            1 => {
                at += 8;
                &[]
            }
            5 => {
                at += 4;
                &[]
            }
            2 => {
                let Some((len, n)) = varint(&bytes[at..]) else {
                    return Ok(());
                };
                at += n;
                let Some(end) = usize::try_from(len)
                    .ok()
                    .and_then(|len| at.checked_add(len))
                    .filter(|end| *end <= bytes.len())
                else {
                    return Ok(());
                };
                let value = &bytes[at..end];
                at = end;
                value
            }
            // Groups (wire types 3 and 4) do not exist in proto3: prost
            // refuses them when it decodes the same bytes.
            _ => return Ok(()),
        };
        let Some(field) = rule.fields.get(&number) else {
            continue;
        };
        let mut index_in_list = None;
        if let Some(cap) = field.cap {
            let elements = match (key & 7, field.packed) {
                (2, Packed::Varint) => value.iter().filter(|b| *b & 0x80 == 0).count(),
                (2, Packed::Fixed32) => value.len() / 4,
                (2, Packed::Fixed64) => value.len() / 8,
                _ => 1,
            };
            let seen = match counts.iter_mut().find(|(n, _)| *n == number) {
                Some((_, seen)) => seen,
                None => {
                    counts.push((number, 0));
                    &mut counts.last_mut().expect("just pushed").1
                }
            };
            index_in_list = Some(*seen);
            *seen += elements;
            if *seen > cap {
                return Err(Over {
                    path: vec![field.name.clone()],
                    cap,
                    per_enum: field.per_enum.clone(),
                });
            }
        }
        if let (Some(sub), 2) = (field.message, key & 7) {
            walk(schemas, sub, value, depth + 1).map_err(|mut over| {
                if let Some(i) = index_in_list {
                    over.path.push(format!("[{i}]"));
                }
                over.path.push(field.name.clone());
                over
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto as pb;

    fn over(message: &impl Message, name: &str) -> Option<Over> {
        let index = *SCHEMAS.by_name.get(name).expect("a schema");
        check(&SCHEMAS, index, &message.encode_to_vec()).err()
    }

    #[test]
    fn every_repeated_request_field_has_a_cap() {
        let pool = DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut missing = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut todo: Vec<MessageDescriptor> = pool
            .services()
            .flat_map(|s| s.methods().map(|m| m.input()).collect::<Vec<_>>())
            .collect();
        while let Some(m) = todo.pop() {
            if !seen.insert(m.full_name().to_owned()) {
                continue;
            }
            for f in m.fields() {
                if f.is_list() && !REPEATED_CAPS.iter().any(|(n, _)| *n == f.full_name()) {
                    missing.push(f.full_name().to_owned());
                }
                if let Kind::Message(sub) = f.kind() {
                    todo.push(sub);
                }
            }
        }
        assert!(
            missing.is_empty(),
            "repeated request fields without a cap: {missing:?}"
        );
        for (name, _) in REPEATED_CAPS {
            assert!(
                seen.iter().any(|m| name.starts_with(&format!("{m}."))),
                "{name} is not a request field"
            );
        }
    }

    #[test]
    fn statuses_are_capped_at_one_per_value_packed_or_not() {
        let ok = pb::ListBackupsRequest {
            status: (1..=8).collect(),
            ..Default::default()
        };
        assert_eq!(over(&ok, "cbr.gateway.v1.ListBackupsRequest"), None);
        let many = pb::ListBackupsRequest {
            status: vec![1; 9],
            ..Default::default()
        };
        let o = over(&many, "cbr.gateway.v1.ListBackupsRequest").unwrap();
        assert_eq!(o.path(), "status");
        assert!(o.description().contains("at most 8"), "{}", o.description());
        // The same values unpacked, one tag each (field 16, varint: 0x80 0x01).
        let mut unpacked = Vec::new();
        for _ in 0..9 {
            unpacked.extend_from_slice(&[0x80, 0x01, 0x01]);
        }
        let index = SCHEMAS.by_name["cbr.gateway.v1.ListBackupsRequest"];
        assert!(check(&SCHEMAS, index, &unpacked).is_err());
    }

    #[test]
    fn nested_lists_are_named_with_their_path() {
        let volumes = |n: usize| pb::ResourceExtraInfo {
            exclude_volumes: vec!["v".into(); n],
            ..Default::default()
        };
        let request = |n: usize| pb::CreateCheckpointRequest {
            parameters: Some(pb::CheckpointParameters {
                resource_details: vec![
                    pb::Resource::default(),
                    pb::Resource {
                        extra_info: Some(volumes(n)),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = "cbr.gateway.v1.CreateCheckpointRequest";
        assert_eq!(over(&request(60), name), None);
        let o = over(&request(61), name).unwrap();
        assert_eq!(
            o.path(),
            "parameters.resource_details[1].extra_info.exclude_volumes"
        );
        let resources = pb::CreateCheckpointRequest {
            parameters: Some(pb::CheckpointParameters {
                resources: vec![String::new(); 257],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            over(&resources, name).unwrap().path(),
            "parameters.resources"
        );
    }

    #[test]
    fn messages_without_lists_are_not_walked() {
        assert!(
            !SCHEMAS
                .by_name
                .contains_key("cbr.gateway.v1.GetBackupRequest")
        );
        assert!(
            SCHEMAS
                .by_name
                .contains_key("cbr.gateway.v1.StreamBackupsRequest")
        );
    }

    #[test]
    fn malformed_bytes_end_the_walk_without_a_panic() {
        let index = SCHEMAS.by_name["cbr.gateway.v1.CreateCheckpointRequest"];
        for bytes in [
            &[0xff][..],
            &[0x0a, 0xff, 0xff],
            &[0x0b],
            &[0x12, 0x05, 0x01],
        ] {
            assert!(check(&SCHEMAS, index, bytes).is_ok());
        }
    }
}
