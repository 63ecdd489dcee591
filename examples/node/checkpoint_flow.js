#!/usr/bin/env node
// Back up a vault through cbr-gateway, watch it finish, list it, restore it and wait.
//
//     npm ci                        # @grpc/grpc-js, @grpc/proto-loader (pinned)
//     node checkpoint_flow.js       # against localhost:50051
//
// The whole life of a backup, in four steps:
//
// 1. CheckpointService/CreateCheckpoint, with a `request_id` (a UUID) so a retry
//    after a lost answer cannot create a second backup;
// 2. CheckpointService/WatchCheckpoint with `include_backups`: one message at once,
//    then one per change (status, each backup's progress), ending with OK once the
//    checkpoint is in a terminal state;
// 3. BackupService/ListBackups filtered by the checkpoint's ID;
// 4. BackupService/RestoreBackup of the server backup onto its own server, disk by
//    disk: a long-running operation (google.longrunning.Operation), waited for with
//    the standard google.longrunning.Operations client (WaitOperation until done).
//
// The protos are loaded at run time from ../../proto by @grpc/proto-loader: no
// code generation step.
//
// Settings (flag, else environment variable, else default):
//
//     --address     CBR_GATEWAY_ADDRESS  localhost:50051
//     --vault-id    CBR_VAULT_ID         3b5816b5-f29c-4172-9d9a-76c719a659ce (the simulator's vault)
//     --project-id  CBR_PROJECT_ID       empty: the gateway's default project
//     --tls         CBR_GATEWAY_TLS=1    plaintext
//                   CBR_AUTH_TOKEN       none: an IAM token, sent as `x-auth-token`
//
// Exits 0 when the backup ended `available` and the restore succeeded, 1 when a
// call failed or either did not succeed.

'use strict';

const crypto = require('node:crypto');
const path = require('node:path');
const { parseArgs } = require('node:util');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const SEEDED_VAULT = '3b5816b5-f29c-4172-9d9a-76c719a659ce';

// Deadline of each unary call. Always set one: without it a call to a gateway
// that hangs waits forever.
const UNARY_TIMEOUT_MS = 10_000;
// Deadline of the whole watch. Real backups take minutes to hours; the gateway
// sends a heartbeat every 30 s meanwhile, so only this deadline ends a stuck watch.
const WATCH_TIMEOUT_MS = 3_600_000;

// Codes after which repeating a create is worth it. With the same request_id the
// gateway returns the first attempt's checkpoint instead of creating another.
const RETRYABLE = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

// How long one WaitOperation call waits before answering with the latest state,
// and how long the whole restore may take (real restores take minutes to hours).
const WAIT_ROUND_S = 30;
const RESTORE_TIMEOUT_MS = 3_600_000;

// Load the API. These options are the usual ones for grpc-js:
// - keepCase: fields keep their proto names (`checkpoint_id`, not `checkpointId`);
// - enums: String gives `CHECKPOINT_STATUS_AVAILABLE` instead of 1;
// - longs: String keeps 64-bit integers (Timestamp.seconds) exact;
// - defaults: unset fields read as their default ('' , 0, [], ...), except
//   `optional` fields such as `extend_info.progress`, which stay undefined when unset;
// - includeDirs: where imports (`cbr/gateway/v1/backup.proto`) are found;
//   google/protobuf/timestamp.proto is built in.
//   google/longrunning/operations.proto (the Operation that RestoreBackup
//   returns, and the Operations service) is vendored there too.
const PROTO_DIR = path.join(__dirname, '..', '..', 'proto');
const packageDefinition = protoLoader.loadSync(
  ['cbr/gateway/v1/checkpoint.proto', 'cbr/gateway/v1/backup.proto', 'google/longrunning/operations.proto'],
  { keepCase: true, enums: String, longs: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] },
);
const loaded = grpc.loadPackageDefinition(packageDefinition);
const v1 = loaded.cbr.gateway.v1;
const { Operations } = loaded.google.longrunning;

// An operation's metadata and response are google.protobuf.Any: decoded with
// protobufjs from the same protos.
const apiTypes = new protobuf.Root();
apiTypes.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
apiTypes.loadSync('cbr/gateway/v1/operation.proto', { keepCase: true });
function unpack(any) {
  const type = apiTypes.lookupType(any.type_url.split('/').pop());
  return type.toObject(type.decode(any.value), { enums: String, defaults: true });
}

// The google.rpc messages the gateway puts in its error details (sent in the
// `grpc-status-details-bin` trailer as a serialized google.rpc.Status). Only the
// fields printed below are declared; protobuf skips the others.
const rpcTypes = protobuf.Root.fromJSON(protobuf.common.get('google/protobuf/any.proto'));
protobuf.parse(
  `syntax = "proto3";
   package google.rpc;
   message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
   message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
   message BadRequest {
     message FieldViolation { string field = 1; string description = 2; }
     repeated FieldViolation field_violations = 1;
   }
   message RequestInfo { string request_id = 1; }`,
  rpcTypes,
  { keepCase: true },
);

/** CHECKPOINT_STATUS_AVAILABLE -> available: upstream's spelling of an enum value. */
function short(enumValue) {
  const name = String(enumValue);
  if (name.startsWith('CHECKPOINT_STATUS_')) {
    // Checkpoint statuses are hyphenated upstream (`error-deleting`).
    return name.slice('CHECKPOINT_STATUS_'.length).toLowerCase().replaceAll('_', '-');
  }
  return name.replace(/^(BACKUP_STATUS|WATCH_EVENT_KIND)_/, '').toLowerCase(); // `waiting_protect`
}

/** A google.protobuf.Timestamp (seconds as a string, see longs: String) as RFC 3339. */
function timestamp(ts) {
  return ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)).toISOString() : '-';
}

/** One line per backup (and its disk children): ID, status, progress, resource. */
function describeBackup(b, indent = '  ') {
  const progress = b.extend_info?.progress != null ? `${b.extend_info.progress}%` : '-';
  const lines = [
    `${indent}backup ${b.id} ${short(b.status)} progress=${progress} ` +
      `resource=${b.resource_type}:${b.resource_name || b.resource_id} created=${timestamp(b.created_at)}`,
  ];
  for (const child of b.children) lines.push(...describeBackup(child, `${indent}  `));
  return lines;
}

/** Prints a failed call: code, message and the google.rpc details if any. */
function printRpcError(what, err) {
  const codeName = Object.keys(grpc.status).find((k) => grpc.status[k] === err.code) ?? err.code;
  console.error(`${what} failed: ${codeName}: ${err.details ?? err.message}`);
  const [bin] = err.metadata?.get('grpc-status-details-bin') ?? [];
  if (!bin) return;
  const status = rpcTypes.lookupType('google.rpc.Status').decode(bin);
  for (const detail of status.details) {
    const typeName = detail.type_url.split('/').pop(); // type.googleapis.com/google.rpc.ErrorInfo
    const type = rpcTypes.lookup(typeName);
    if (type instanceof protobuf.Type) {
      const decoded = type.toObject(type.decode(detail.value));
      console.error(`  ${type.name}: ${JSON.stringify(decoded)}`);
    } else {
      console.error(`  ${detail.type_url}`);
    }
  }
}

/** A unary call as a promise resolving to { response, metadata } (the response headers). */
function unary(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    const call = client[method](
      request,
      metadata,
      { deadline: Date.now() + UNARY_TIMEOUT_MS },
      (err, response) => (err ? reject(err) : resolve({ response, metadata: headers })),
    );
    call.on('metadata', (md) => {
      headers = md;
    });
  });
}

/** CreateCheckpoint, repeated on transient failures with the same request_id. */
async function createCheckpoint(client, request, metadata, attempts = 3) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await unary(client, 'CreateCheckpoint', request, metadata);
    } catch (err) {
      if (!RETRYABLE.has(err.code) || attempt === attempts) throw err;
      console.error(`CreateCheckpoint: ${err.details}, retrying (attempt ${attempt + 1})`);
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

/** WaitOperation until the operation is done: each call returns when it is done
 * or after WAIT_ROUND_S seconds with the latest state (printed). */
async function waitOperation(operations, op, metadata) {
  const deadline = Date.now() + RESTORE_TIMEOUT_MS;
  while (!op.done) {
    if (Date.now() > deadline) throw new Error(`${op.name} is not done after ${RESTORE_TIMEOUT_MS} ms`);
    op = await new Promise((resolve, reject) =>
      operations.WaitOperation(
        { name: op.name, timeout: { seconds: WAIT_ROUND_S, nanos: 0 } },
        metadata,
        { deadline: Date.now() + WAIT_ROUND_S * 1000 + UNARY_TIMEOUT_MS },
        (err, response) => (err ? reject(err) : resolve(response)),
      ),
    );
    const meta = unpack(op.metadata);
    const status = String(meta.status).replace(/^OPERATION_LOG_STATUS_/, '').toLowerCase();
    const progress = meta.progress != null ? `${meta.progress}%` : '-';
    console.log(`restore ${status} progress=${progress} done=${op.done}`);
  }
  return op;
}

async function main() {
  const { values: args } = parseArgs({
    options: {
      address: { type: 'string', default: process.env.CBR_GATEWAY_ADDRESS || 'localhost:50051' },
      'vault-id': { type: 'string', default: process.env.CBR_VAULT_ID || SEEDED_VAULT },
      'project-id': { type: 'string', default: process.env.CBR_PROJECT_ID || '' },
      name: { type: 'string', default: 'node-example' }, // letters, digits, _ and -
      tls: { type: 'boolean', default: process.env.CBR_GATEWAY_TLS === '1' },
    },
  });
  const projectId = args['project-id'];

  // The token travels as metadata on every call; keep it out of argv, where
  // other users of the machine can read it.
  const metadata = new grpc.Metadata();
  if (process.env.CBR_AUTH_TOKEN) metadata.set('x-auth-token', process.env.CBR_AUTH_TOKEN);

  const credentials = args.tls ? grpc.credentials.createSsl() : grpc.credentials.createInsecure();
  const checkpoints = new v1.CheckpointService(args.address, credentials);
  // Same address and credentials: grpc-js shares one connection between the two clients.
  const backups = new v1.BackupService(args.address, credentials);
  const operations = new Operations(args.address, credentials);

  let step = 'CreateCheckpoint'; // the call in progress, for the error message
  try {
    // 1. Create. Empty parameters.resources backs up every resource of the vault.
    const created = await createCheckpoint(
      checkpoints,
      {
        project_id: projectId,
        vault_id: args['vault-id'],
        parameters: { name: args.name, description: 'created by examples/node' },
        request_id: crypto.randomUUID(),
      },
      metadata,
    );
    const checkpoint = created.response.checkpoint;
    // x-request-id is upstream's request ID: quote it when asking Huawei's support.
    const [upstreamRequestId = '-'] = created.metadata.get('x-request-id');
    console.log(
      `created checkpoint ${checkpoint.id} status=${short(checkpoint.status)} x-request-id=${upstreamRequestId}`,
    );

    // 2. Watch until the stream ends. It ends with OK only after a terminal
    // status; any failure is thrown from the loop.
    step = 'WatchCheckpoint';
    let final = checkpoint;
    const watch = checkpoints.WatchCheckpoint(
      { project_id: projectId, checkpoint_id: checkpoint.id, include_backups: true },
      metadata,
      { deadline: Date.now() + WATCH_TIMEOUT_MS },
    );
    for await (const update of watch) {
      final = update.checkpoint;
      console.log(
        `watch ${short(update.kind)}: status=${short(final.status)} changes: ${update.changes.join('; ') || '-'}`,
      );
      for (const b of update.backups) console.log(describeBackup(b, '    ').join('\n'));
    }
    console.log(`checkpoint ${checkpoint.id} finished: ${short(final.status)}`);

    // 3. List the checkpoint's backups (one page: a checkpoint has one backup
    // per resource, far below the page size).
    step = 'ListBackups';
    const { response: listed } = await unary(
      backups,
      'ListBackups',
      { project_id: projectId, checkpoint_id: checkpoint.id },
      metadata,
    );
    console.log(`listed ${listed.backups.length} backup(s) of checkpoint ${checkpoint.id} (count=${listed.count}):`);
    for (const b of listed.backups) console.log(describeBackup(b).join('\n'));

    if (final.status !== 'CHECKPOINT_STATUS_AVAILABLE') {
      console.error(`the backup did not succeed: ${short(final.status)}`);
      process.exitCode = 1;
      return;
    }

    // 4. Restore the server backup onto its server: each disk backup (a child)
    // goes back to the disk it was taken from. The answer is at once an
    // operation; its name is all anyone needs to follow it, from any replica.
    const listedServer = listed.backups.find((b) => b.resource_type === 'OS::Nova::Server' && !b.parent_id);
    if (!listedServer) {
      console.error('no server backup to restore');
      process.exitCode = 1;
      return;
    }
    // Its disk backups (children) come with GetBackup, not with the list.
    step = 'GetBackup';
    const {
      response: { backup: server },
    } = await unary(backups, 'GetBackup', { project_id: projectId, backup_id: listedServer.id }, metadata);
    step = 'RestoreBackup';
    const { response: started } = await unary(
      backups,
      'RestoreBackup',
      {
        project_id: projectId,
        backup_id: server.id,
        restore: {
          server_id: server.resource_id,
          mappings: server.children.map((c) => ({ backup_id: c.id, volume_id: c.resource_id })),
          power_on: true,
        },
        request_id: crypto.randomUUID(),
      },
      metadata,
    );
    console.log(`restore started ${started.name}`);
    step = 'WaitOperation';
    const op = await waitOperation(operations, started, metadata);
    if (op.result === 'error') {
      // A google.rpc.Status: its ErrorInfo.reason is upstream's error code.
      const codeName = Object.keys(grpc.status).find((k) => grpc.status[k] === op.error.code) ?? op.error.code;
      console.error(`restore failed: ${codeName}: ${op.error.message}`);
      process.exitCode = 1;
      return;
    }
    const restored = unpack(op.response);
    console.log(`restore finished: success backup=${restored.backup_id} target=${restored.target_resource_id}`);
  } catch (err) {
    if (err.code === undefined) throw err; // not a gRPC error: a bug, show the stack
    printRpcError(step, err);
    process.exitCode = 1;
  } finally {
    checkpoints.close();
    backups.close();
    operations.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
