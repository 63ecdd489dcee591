# cbr-gateway: build with the Rust toolchain, run on distroless (glibc + CA certificates, no shell).
#   docker build -t cbr-gateway .
#   docker run -p 50051:50051 -e CBR_ENDPOINT=https://cbr.<region>.myhuaweicloud.com cbr-gateway

FROM rust:1-bookworm AS build
WORKDIR /app

# Dependencies first: with only the manifests, build.rs and the protos, build stub
# sources so that every dependency (and the generated proto code) lands in a layer
# that is reused until Cargo.toml, Cargo.lock, build.rs or proto/ change.
# No protoc is needed: build.rs compiles the protos with protox.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
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
USER nonroot:nonroot
ENV GATEWAY_LISTEN=0.0.0.0:50051
EXPOSE 50051
ENTRYPOINT ["/usr/local/bin/cbr-gateway"]
