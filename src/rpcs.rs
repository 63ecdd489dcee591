//! The one table of RPCs the gateway serves.
//!
//! Everything that treats RPCs differently reads it here instead of keeping its
//! own list: the authorization groups (`read`, `write`, always allowed), which
//! calls stream and whether they end by themselves (the stream budget and the
//! drain), the metrics' method labels, the handlers' names in log lines, and
//! the upstream operations (`cbr_wire`'s routes, which also name the
//! simulator's fault rules) each method calls. A unit test checks it against
//! the compiled descriptor set, so a method added to a `.proto` file without a
//! row here fails the build's tests.

use cbr_wire::{self as wire, Route};

/// What calling a method can do, for authorization (contract §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Changes nothing upstream: the policy group `read`.
    Read,
    /// Changes something upstream: the policy group `write`.
    Write,
    /// Health and reflection: always allowed, never judged or rate-limited.
    Open,
}

/// How a method answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One response message.
    Unary,
    /// A server stream that ends by itself (a listing walked to its end).
    BoundedStream,
    /// A stream that lasts until the caller cancels it or the gateway drains
    /// (watches, health `Watch`, reflection).
    EndlessStream,
}

/// One gRPC method.
#[derive(Debug, PartialEq, Eq)]
pub struct Rpc {
    /// The fully qualified service, e.g. `cbr.gateway.v1.BackupService`.
    pub service: &'static str,
    /// The method, e.g. `GetBackup`.
    pub method: &'static str,
    /// The HTTP/2 path, `/{service}/{method}`.
    pub path: &'static str,
    /// Its authorization group.
    pub access: Access,
    /// Unary or which kind of stream.
    pub shape: Shape,
    /// The upstream operations it calls (none for health and reflection).
    pub upstream: &'static [&'static Route],
}

impl Rpc {
    /// `{service}/{method}`: how policies and metrics name the method.
    pub fn full_name(&self) -> &'static str {
        &self.path[1..]
    }

    /// Whether the response is a server stream.
    pub fn is_stream(&self) -> bool {
        self.shape != Shape::Unary
    }
}

macro_rules! rpc {
    ($name:ident, $service:literal, $method:literal, $access:ident, $shape:ident) => {
        rpc!($name, $service, $method, $access, $shape, []);
    };
    ($name:ident, $service:literal, $method:literal, $access:ident, $shape:ident, [$($route:ident),*]) => {
        #[doc = concat!("`", $service, "/", $method, "`.")]
        pub static $name: Rpc = Rpc {
            service: $service,
            method: $method,
            path: concat!("/", $service, "/", $method),
            access: Access::$access,
            shape: Shape::$shape,
            upstream: &[$(&wire::$route),*],
        };
    };
}

rpc!(
    CREATE_CHECKPOINT,
    "cbr.gateway.v1.CheckpointService",
    "CreateCheckpoint",
    Write,
    Unary,
    [CREATE_CHECKPOINT]
);
rpc!(
    GET_CHECKPOINT,
    "cbr.gateway.v1.CheckpointService",
    "GetCheckpoint",
    Read,
    Unary,
    [GET_CHECKPOINT]
);
rpc!(
    WATCH_CHECKPOINT,
    "cbr.gateway.v1.CheckpointService",
    "WatchCheckpoint",
    Read,
    EndlessStream,
    [GET_CHECKPOINT, LIST_BACKUPS]
);
rpc!(
    LIST_BACKUPS,
    "cbr.gateway.v1.BackupService",
    "ListBackups",
    Read,
    Unary,
    [LIST_BACKUPS]
);
rpc!(
    STREAM_BACKUPS,
    "cbr.gateway.v1.BackupService",
    "StreamBackups",
    Read,
    BoundedStream,
    [LIST_BACKUPS]
);
rpc!(
    GET_BACKUP,
    "cbr.gateway.v1.BackupService",
    "GetBackup",
    Read,
    Unary,
    [GET_BACKUP]
);
rpc!(
    GET_CHECKPOINT_ITEM,
    "cbr.gateway.v1.CheckpointItemService",
    "GetCheckpointItem",
    Read,
    Unary,
    [GET_CHECKPOINT_ITEM]
);
rpc!(HEALTH_CHECK, "grpc.health.v1.Health", "Check", Open, Unary);
rpc!(
    HEALTH_WATCH,
    "grpc.health.v1.Health",
    "Watch",
    Open,
    EndlessStream
);
rpc!(
    REFLECTION_V1,
    "grpc.reflection.v1.ServerReflection",
    "ServerReflectionInfo",
    Open,
    EndlessStream
);
rpc!(
    REFLECTION_V1ALPHA,
    "grpc.reflection.v1alpha.ServerReflection",
    "ServerReflectionInfo",
    Open,
    EndlessStream
);

/// Every method the gateway serves: the API's, then health and reflection.
pub static ALL: &[&Rpc] = &[
    &CREATE_CHECKPOINT,
    &GET_CHECKPOINT,
    &WATCH_CHECKPOINT,
    &LIST_BACKUPS,
    &STREAM_BACKUPS,
    &GET_BACKUP,
    &GET_CHECKPOINT_ITEM,
    &HEALTH_CHECK,
    &HEALTH_WATCH,
    &REFLECTION_V1,
    &REFLECTION_V1ALPHA,
];

/// The method a request path names, if the gateway serves it.
pub fn by_path(path: &str) -> Option<&'static Rpc> {
    ALL.iter().copied().find(|rpc| rpc.path == path)
}

/// The API's methods (everything not always allowed).
pub fn api() -> impl Iterator<Item = &'static Rpc> {
    ALL.iter().copied().filter(|rpc| rpc.access != Access::Open)
}

/// The API's services, each once, in the table's order (health reports each).
pub fn services() -> impl Iterator<Item = &'static str> {
    api()
        .enumerate()
        .filter(|&(i, rpc)| api().take(i).all(|seen| seen.service != rpc.service))
        .map(|(_, rpc)| rpc.service)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    /// The table and the compiled `.proto` files name the same methods, with
    /// the same streaming shape.
    #[test]
    fn the_table_matches_the_descriptor_set() {
        let set = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set decodes");
        let mut from_protos = Vec::new();
        for file in &set.file {
            for service in &file.service {
                let full = format!("{}.{}", file.package(), service.name());
                for method in &service.method {
                    assert!(
                        !method.client_streaming(),
                        "{full}/{}: client streams need a look at the request limits",
                        method.name()
                    );
                    from_protos.push((
                        format!("/{full}/{}", method.name()),
                        method.server_streaming(),
                    ));
                }
            }
        }
        let from_table: Vec<(String, bool)> = api()
            .map(|rpc| (rpc.path.to_owned(), rpc.is_stream()))
            .collect();
        from_protos.sort();
        let mut sorted = from_table.clone();
        sorted.sort();
        assert_eq!(sorted, from_protos);
    }

    /// Every upstream operation but IAM's (the token provider's) is called by
    /// some RPC, and health and reflection call none.
    #[test]
    fn every_upstream_operation_has_its_rpc() {
        for route in wire::ALL {
            let callers = api().filter(|rpc| rpc.upstream.contains(route)).count();
            if route.api == wire::Api::Iam {
                assert_eq!(callers, 0, "{}", route.name);
            } else {
                assert!(callers > 0, "{} is called by no RPC", route.name);
            }
        }
        assert!(
            ALL.iter()
                .filter(|rpc| rpc.access == Access::Open)
                .all(|rpc| rpc.upstream.is_empty())
        );
        assert!(api().all(|rpc| !rpc.upstream.is_empty()));
    }

    #[test]
    fn services_are_listed_once() {
        assert_eq!(
            services().collect::<Vec<_>>(),
            [
                "cbr.gateway.v1.CheckpointService",
                "cbr.gateway.v1.BackupService",
                "cbr.gateway.v1.CheckpointItemService",
            ]
        );
    }

    #[test]
    fn paths_are_found_and_named() {
        let rpc = by_path("/cbr.gateway.v1.BackupService/GetBackup").unwrap();
        assert_eq!(rpc, &GET_BACKUP);
        assert_eq!(rpc.full_name(), "cbr.gateway.v1.BackupService/GetBackup");
        assert!(by_path("/cbr.gateway.v1.BackupService/Nope").is_none());
        assert!(by_path("").is_none());
        assert_eq!(
            by_path("/grpc.health.v1.Health/Watch").unwrap().access,
            Access::Open
        );
    }
}
