#!/usr/bin/env sh
# Generates the Python stubs for cbr.gateway.v1 from ../../proto into gen/
# (gitignored: stubs are build output, not source). Re-run after the protos change.
#
#   ./generate.sh                # needs: python3 -m pip install -r requirements.txt
#
# grpc_tools.protoc bundles protoc and the well-known types
# (google/protobuf/timestamp.proto), so no system protoc is needed.
# google.longrunning (RestoreBackup's and DeleteBackup's Operation, and the
# Operations client) is generated from the vendored proto too: the
# googleapis-common-protos package ships it under another file name
# (operations_proto.proto), which the gateway's protos do not import. Its
# imports (google.api, google.rpc) come from that package.
set -eu
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"

rm -rf gen
mkdir -p gen
"$PYTHON" -m grpc_tools.protoc \
  -I ../../proto \
  --python_out=gen \
  --pyi_out=gen \
  --grpc_python_out=gen \
  ../../proto/cbr/gateway/v1/*.proto \
  ../../proto/google/longrunning/operations.proto
echo "generated stubs in $(pwd)/gen"
