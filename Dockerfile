# cbr-gateway: build with the Rust toolchain, run on distroless (glibc + CA certificates,
# no shell, no package manager).
#   docker build -t cbr-gateway .
#   docker run -p 50051:50051 -e CBR_ENDPOINT=https://cbr.<region>.myhuaweicloud.com cbr-gateway
# The runtime image runs as uid 65532, writes nothing to disk (so a read-only root
# filesystem is fine) and needs no shell: Kubernetes manifests are in deploy/kubernetes/.

# The builder is Debian 12 (bookworm), like the runtime, so the binary's glibc matches.
ARG RUST_VERSION=1
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /app

# Dependencies first: with only the manifests, build.rs, the protos, the benches
# (Cargo.toml names them, so they must exist) and the workspace's member crates (the
# signer and the simulator, which change rarely), build stub sources so that every
# dependency (and the generated proto code) lands in a layer that is reused until one
# of those inputs changes. No protoc is needed: build.rs compiles the protos with protox.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY benches ./benches
COPY crates ./crates
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# The real sources. COPY keeps the context's modification times, which can be older
# than the stub build; touch the crate roots so cargo rebuilds the crate.
COPY src ./src
RUN touch src/lib.rs src/main.rs \
 && cargo build --release --locked \
 && cp target/release/cbr-gateway /usr/local/bin/cbr-gateway

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/cbr-gateway /usr/local/bin/cbr-gateway
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd (65532 = nonroot).
USER 65532:65532
ENV GATEWAY_LISTEN=0.0.0.0:50051 \
    METRICS_LISTEN=0.0.0.0:9090
# gRPC (and grpc.health.v1), then Prometheus `GET /metrics`.
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/cbr-gateway"]
