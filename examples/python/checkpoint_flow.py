#!/usr/bin/env python3
"""Back up a vault through cbr-gateway, watch it finish, list it, restore it and wait.

    python3 -m pip install -r requirements.txt
    ./generate.sh                      # stubs from ../../proto into gen/
    python3 checkpoint_flow.py         # against localhost:50051

The whole life of a backup, in four steps:

1. CheckpointService/CreateCheckpoint, with a `request_id` (a UUID) so a retry
   after a lost answer cannot create a second backup;
2. CheckpointService/WatchCheckpoint with `include_backups`: one message at once,
   then one per change (status, each backup's progress), ending with OK once the
   checkpoint is in a terminal state;
3. BackupService/ListBackups filtered by the checkpoint's ID;
4. BackupService/RestoreBackup of the server backup onto its own server, disk by
   disk: a long-running operation (google.longrunning.Operation), waited for with
   the standard google.longrunning.Operations client (WaitOperation until done).

Settings (flag, else environment variable, else default):

    --address     CBR_GATEWAY_ADDRESS  localhost:50051
    --vault-id    CBR_VAULT_ID         3b5816b5-f29c-4172-9d9a-76c719a659ce (the simulator's vault)
    --project-id  CBR_PROJECT_ID       empty: the gateway's default project
    --tls         CBR_GATEWAY_TLS=1    plaintext
                  CBR_AUTH_TOKEN       none: an IAM token, sent as `x-auth-token`

Exits 0 when the backup ended `available` and the restore succeeded, 1 when a
call failed or either did not succeed, 2 when the stubs are missing.
"""

import argparse
import os
import sys
import time
import uuid

import grpc

# The generated stubs live in gen/ next to this file (see generate.sh).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))
try:
    from cbr.gateway.v1 import backup_pb2, backup_pb2_grpc, checkpoint_pb2, checkpoint_pb2_grpc
    from cbr.gateway.v1 import operation_log_pb2, operation_pb2
    from google.longrunning import operations_pb2, operations_pb2_grpc
    from google.protobuf import duration_pb2
except ImportError as e:
    sys.exit(f"cannot import the generated stubs ({e}); run ./generate.sh first")

# google.rpc error details (ErrorInfo, BadRequest, RequestInfo, ...) come with the
# grpcio-status package; without it, failures still print their code and message.
try:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status
except ImportError:
    rpc_status = None

SEEDED_VAULT = "3b5816b5-f29c-4172-9d9a-76c719a659ce"

# Deadline of each unary call, in seconds. Always set one: without it a call to a
# gateway that hangs waits forever.
UNARY_TIMEOUT = 10.0
# Deadline of the whole watch. Real backups take minutes to hours; the gateway
# sends a heartbeat every 30 s meanwhile, so only this deadline ends a stuck watch.
WATCH_TIMEOUT = 3600.0

# How long one WaitOperation call waits before answering with the latest state,
# and how long the whole restore may take (real restores take minutes to hours).
WAIT_ROUND = 30
RESTORE_TIMEOUT = 3600.0

# Codes after which repeating a create is worth it. With the same request_id the
# gateway returns the first attempt's checkpoint instead of creating another.
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def short(enum_type, value):
    """CHECKPOINT_STATUS_AVAILABLE -> available: upstream's spelling of an enum value."""
    name = enum_type.Name(value)
    if enum_type is checkpoint_pb2.CheckpointStatus:
        # Checkpoint statuses are hyphenated upstream (`error-deleting`).
        return name.removeprefix("CHECKPOINT_STATUS_").lower().replace("_", "-")
    if enum_type is backup_pb2.BackupStatus:
        return name.removeprefix("BACKUP_STATUS_").lower()  # `waiting_protect`
    return name.removeprefix("WATCH_EVENT_KIND_").lower()


def describe_backup(b, indent="  "):
    """One line per backup (and its disk children): ID, status, progress, resource."""
    progress = f"{b.extend_info.progress}%" if b.extend_info.HasField("progress") else "-"
    created = b.created_at.ToJsonString() if b.HasField("created_at") else "-"
    lines = [
        f"{indent}backup {b.id} {short(backup_pb2.BackupStatus, b.status)} progress={progress} "
        f"resource={b.resource_type}:{b.resource_name or b.resource_id} created={created}"
    ]
    for child in b.children:
        lines += describe_backup(child, indent + "  ")
    return lines


def print_rpc_error(what, err):
    """Prints a failed call: code, message and the google.rpc details if any."""
    print(f"{what} failed: {err.code().name}: {err.details()}", file=sys.stderr)
    if rpc_status is None:
        return
    status = rpc_status.from_call(err)  # None when the server sent no details
    if status is None:
        return
    for any_detail in status.details:
        for detail_type in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.RequestInfo,
            error_details_pb2.RetryInfo,
            error_details_pb2.QuotaFailure,
            error_details_pb2.PreconditionFailure,
        ):
            if any_detail.Is(detail_type.DESCRIPTOR):
                detail = detail_type()
                any_detail.Unpack(detail)
                text = " ".join(str(detail).split())
                print(f"  {detail_type.DESCRIPTOR.name}: {text}", file=sys.stderr)
                break
        else:
            print(f"  {any_detail.type_url}", file=sys.stderr)


def create_checkpoint(stub, request, metadata, attempts=3):
    """CreateCheckpoint, repeated on transient failures with the same request_id."""
    for attempt in range(1, attempts + 1):
        try:
            # with_call also returns the call, whose metadata carries upstream's
            # x-request-id: quote it when asking Huawei's support about a call.
            response, call = stub.CreateCheckpoint.with_call(
                request, metadata=metadata, timeout=UNARY_TIMEOUT
            )
            request_ids = [v for k, v in call.initial_metadata() if k == "x-request-id"]
            return response.checkpoint, (request_ids or ["-"])[0]
        except grpc.RpcError as err:
            if err.code() not in RETRYABLE or attempt == attempts:
                raise
            print(f"CreateCheckpoint: {err.code().name}, retrying (attempt {attempt + 1})", file=sys.stderr)
            time.sleep(0.5 * attempt)


def wait_operation(operations, op, metadata):
    """WaitOperation until the operation is done: each call returns when it is
    done or after WAIT_ROUND seconds with the latest state (printed)."""
    deadline = time.monotonic() + RESTORE_TIMEOUT
    while not op.done:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{op.name} is not done after {RESTORE_TIMEOUT} s")
        op = operations.WaitOperation(
            operations_pb2.WaitOperationRequest(
                name=op.name, timeout=duration_pb2.Duration(seconds=WAIT_ROUND)
            ),
            metadata=metadata,
            timeout=WAIT_ROUND + UNARY_TIMEOUT,
        )
        meta = operation_pb2.OperationMetadata()
        op.metadata.Unpack(meta)
        status = operation_log_pb2.OperationLogStatus.Name(meta.status).removeprefix("OPERATION_LOG_STATUS_").lower()
        progress = f"{meta.progress}%" if meta.HasField("progress") else "-"
        print(f"restore {status} progress={progress} done={str(op.done).lower()}")
    return op


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default=os.environ.get("CBR_GATEWAY_ADDRESS", "localhost:50051"))
    parser.add_argument("--vault-id", default=os.environ.get("CBR_VAULT_ID", SEEDED_VAULT))
    parser.add_argument("--project-id", default=os.environ.get("CBR_PROJECT_ID", ""))
    parser.add_argument("--name", default="python-example", help="backup name (letters, digits, _ and -)")
    parser.add_argument("--tls", action="store_true", default=os.environ.get("CBR_GATEWAY_TLS") == "1")
    args = parser.parse_args()

    # The token travels as metadata on every call; keep it out of argv, where
    # other users of the machine can read it.
    token = os.environ.get("CBR_AUTH_TOKEN")
    metadata = [("x-auth-token", token)] if token else []

    if args.tls:
        channel = grpc.secure_channel(args.address, grpc.ssl_channel_credentials())
    else:
        channel = grpc.insecure_channel(args.address)

    with channel:
        checkpoints = checkpoint_pb2_grpc.CheckpointServiceStub(channel)
        backups = backup_pb2_grpc.BackupServiceStub(channel)
        operations = operations_pb2_grpc.OperationsStub(channel)
        step = "CreateCheckpoint"  # the call in progress, for the error message
        try:
            # 1. Create. Empty parameters.resources backs up every resource of the vault.
            checkpoint, upstream_request_id = create_checkpoint(
                checkpoints,
                checkpoint_pb2.CreateCheckpointRequest(
                    project_id=args.project_id,
                    vault_id=args.vault_id,
                    parameters=checkpoint_pb2.CheckpointParameters(
                        name=args.name, description="created by examples/python"
                    ),
                    request_id=str(uuid.uuid4()),
                ),
                metadata,
            )
            print(
                f"created checkpoint {checkpoint.id} "
                f"status={short(checkpoint_pb2.CheckpointStatus, checkpoint.status)} "
                f"x-request-id={upstream_request_id}"
            )

            # 2. Watch until the stream ends. It ends with OK only after a terminal
            # status; any failure raises grpc.RpcError from the loop.
            step = "WatchCheckpoint"
            final = checkpoint
            for update in checkpoints.WatchCheckpoint(
                checkpoint_pb2.WatchCheckpointRequest(
                    project_id=args.project_id, checkpoint_id=checkpoint.id, include_backups=True
                ),
                metadata=metadata,
                timeout=WATCH_TIMEOUT,
            ):
                final = update.checkpoint
                changes = "; ".join(update.changes) or "-"
                print(
                    f"watch {short(checkpoint_pb2.WatchEventKind, update.kind)}: "
                    f"status={short(checkpoint_pb2.CheckpointStatus, final.status)} changes: {changes}"
                )
                for b in update.backups:
                    print("\n".join(describe_backup(b, "    ")))
            status = short(checkpoint_pb2.CheckpointStatus, final.status)
            print(f"checkpoint {checkpoint.id} finished: {status}")

            # 3. List the checkpoint's backups (one page: a checkpoint has one
            # backup per resource, far below the page size).
            step = "ListBackups"
            listed = backups.ListBackups(
                backup_pb2.ListBackupsRequest(project_id=args.project_id, checkpoint_id=checkpoint.id),
                metadata=metadata,
                timeout=UNARY_TIMEOUT,
            )
            print(f"listed {len(listed.backups)} backup(s) of checkpoint {checkpoint.id} (count={listed.count}):")
            for b in listed.backups:
                print("\n".join(describe_backup(b)))
            if final.status != checkpoint_pb2.CHECKPOINT_STATUS_AVAILABLE:
                print(f"the backup did not succeed: {status}", file=sys.stderr)
                return 1

            # 4. Restore the server backup onto its server: each disk backup
            # (a child) goes back to the disk it was taken from. The answer is
            # at once an operation; its name is all anyone needs to follow it,
            # from any gateway replica.
            server = next(
                (b for b in listed.backups if b.resource_type == "OS::Nova::Server" and not b.parent_id),
                None,
            )
            if server is None:
                print("no server backup to restore", file=sys.stderr)
                return 1
            # Its disk backups (children) come with GetBackup, not with the list.
            step = "GetBackup"
            server = backups.GetBackup(
                backup_pb2.GetBackupRequest(project_id=args.project_id, backup_id=server.id),
                metadata=metadata,
                timeout=UNARY_TIMEOUT,
            ).backup
            step = "RestoreBackup"
            op = backups.RestoreBackup(
                backup_pb2.RestoreBackupRequest(
                    project_id=args.project_id,
                    backup_id=server.id,
                    restore=backup_pb2.BackupRestore(
                        server_id=server.resource_id,
                        mappings=[
                            backup_pb2.BackupRestoreServerMapping(backup_id=c.id, volume_id=c.resource_id)
                            for c in server.children
                        ],
                        power_on=True,
                    ),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=metadata,
                timeout=UNARY_TIMEOUT,
            )
            print(f"restore started {op.name}")
            step = "WaitOperation"
            op = wait_operation(operations, op, metadata)
            if op.HasField("error"):
                # A google.rpc.Status: its ErrorInfo.reason is upstream's error code.
                code = next((c.name for c in grpc.StatusCode if c.value[0] == op.error.code), op.error.code)
                print(f"restore failed: {code}: {op.error.message}", file=sys.stderr)
                return 1
            restored = operation_pb2.RestoreBackupResponse()
            op.response.Unpack(restored)
            print(f"restore finished: success backup={restored.backup_id} target={restored.target_resource_id}")
        except grpc.RpcError as err:
            print_rpc_error(step, err)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
