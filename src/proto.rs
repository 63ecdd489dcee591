//! Generated protobuf and gRPC code for `cbr.gateway.v1`, and the descriptor set
//! that server reflection serves.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

pub use packages::{cbr::gateway::v1::*, google};

/// The generated code, one module per protobuf package, nested as the
/// packages are so that prost's relative paths between them resolve.
#[allow(unreachable_pub)]
mod packages {
    pub mod cbr {
        pub mod gateway {
            pub mod v1 {
                tonic::include_proto!("cbr.gateway.v1");
            }
        }
    }
    /// Google's packages the API uses: `google.longrunning` (the `Operation`
    /// RestoreBackup and DeleteBackup return, and the `Operations` service),
    /// `google.rpc` (an operation's `error`) and `google.api` (options only).
    pub mod google {
        pub mod longrunning {
            tonic::include_proto!("google.longrunning");
        }
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
        pub mod api {
            tonic::include_proto!("google.api");
        }
    }
}

/// A request that may name its region (contract §10): the gateway's own have
/// a `region` field; Google's `Operations` requests carry it in the
/// operation's name (`…@{region}`, for a region other than the gateway's
/// default) or in `x-cbr-region` metadata.
pub trait Regional {
    /// Where [`Regional::region`] comes from, for error messages.
    const REGION_IN: &'static str = "the request's region field";
    /// The region the request names; empty when it names none.
    fn region(&self) -> &str;
    /// Whether the request names its project (a `project_id`, or an
    /// operation name that carries it).
    fn names_project(&self) -> bool;
}

/// The region an operation name carries after its `@`, if any (checked with
/// the rest of the name by the handler; routed by this).
fn region_of_name(name: &str) -> &str {
    name.rsplit_once('@').map_or("", |(_, region)| region)
}

macro_rules! regional {
    ($($message:ty),* $(,)?) => {
        $(impl Regional for $message {
            fn region(&self) -> &str {
                &self.region
            }
            fn names_project(&self) -> bool {
                !self.project_id.is_empty()
            }
        })*
    };
}

regional!(
    ListBackupsRequest,
    StreamBackupsRequest,
    GetBackupRequest,
    RestoreBackupRequest,
    DeleteBackupRequest,
    CreateCheckpointRequest,
    GetCheckpointRequest,
    WatchCheckpointRequest,
    GetCheckpointItemRequest,
    ListOperationLogsRequest,
    StreamOperationLogsRequest,
    GetOperationLogRequest,
    ListPoliciesRequest,
    GetPolicyRequest,
    ListVaultsRequest,
    StreamVaultsRequest,
    GetVaultRequest,
);

impl Regional for WatchOperationRequest {
    fn region(&self) -> &str {
        match self.region.as_str() {
            "" => region_of_name(&self.name),
            field => field,
        }
    }
    fn names_project(&self) -> bool {
        true
    }
}

macro_rules! named_region {
    ($($message:ty),* $(,)?) => {
        $(impl Regional for $message {
            const REGION_IN: &'static str = "the operation's name";
            fn region(&self) -> &str {
                region_of_name(&self.name)
            }
            // In the operation's name (or the collection's).
            fn names_project(&self) -> bool {
                true
            }
        })*
    };
}

named_region!(
    google::longrunning::GetOperationRequest,
    google::longrunning::WaitOperationRequest,
    google::longrunning::CancelOperationRequest,
    google::longrunning::DeleteOperationRequest,
);

// The collection's name has no region: only metadata names it.
impl Regional for google::longrunning::ListOperationsRequest {
    fn region(&self) -> &str {
        ""
    }
    fn names_project(&self) -> bool {
        true
    }
}

/// Encoded `FileDescriptorSet` of `proto/`, written by `build.rs`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("cbr_gateway_descriptor");

impl ListBackupsRequest {
    /// The same filters as a StreamBackupsRequest: `limit` becomes the page
    /// size and `marker` is dropped (a stream pages by itself).
    pub fn into_stream(self) -> StreamBackupsRequest {
        // Destructured in full so that a field added to one message and not
        // mapped here fails to compile.
        let ListBackupsRequest {
            project_id,
            checkpoint_id,
            dec,
            end_time,
            image_type,
            limit,
            marker: _,
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
            region,
        } = self;
        StreamBackupsRequest {
            project_id,
            checkpoint_id,
            dec,
            end_time,
            image_type,
            page_size: limit,
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
            region,
        }
    }
}
