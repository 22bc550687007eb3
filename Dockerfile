# ecs-oidc-deploy: one static (musl) binary and a CA bundle in an otherwise empty image.
#
# Release build (the builder stage compiles with the pinned toolchain):
#   docker build --build-arg VERSION=X.Y.Z -t org/ecs-oidc-deploy:X.Y.Z .
#
# From a binary built outside (test/image-test does this; nothing is pulled, so it also works
# without registry access). The context then needs only dist/ecs-oidc-deploy and
# dist/ca-certificates.crt; the builder stage is skipped:
#   cargo build --release --locked --target x86_64-unknown-linux-musl
#   buildah bud --build-arg BINARY_FROM=prebuilt --build-arg VERSION=X.Y.Z -f Dockerfile <context>

# Where /dist/ecs-oidc-deploy and /dist/ca-certificates.crt come from: `builder` or `prebuilt`.
ARG BINARY_FROM=builder

# Same toolchain as Cargo.toml's rust-version, on Debian bookworm (musl-tools 1.2.3).
FROM docker.io/library/rust:1.95-bookworm AS builder
# musl-gcc is needed to build aws-lc-sys (the TLS crypto) for the musl target.
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin ecs-oidc-deploy \
    && mkdir /dist \
    && cp target/x86_64-unknown-linux-musl/release/ecs-oidc-deploy /dist/ \
    && cp /etc/ssl/certs/ca-certificates.crt /dist/

FROM scratch AS prebuilt
COPY dist/ecs-oidc-deploy dist/ca-certificates.crt /dist/

FROM ${BINARY_FROM} AS binary

FROM scratch
ARG VERSION=unversioned
LABEL org.opencontainers.image.title="ecs-oidc-deploy" \
      org.opencontainers.image.description="Bitbucket Pipe: deploy a new image to an Amazon ECS service with Bitbucket OIDC" \
      org.opencontainers.image.source="https://bitbucket.org/org/ecs-oidc-deploy" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=binary /dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=binary /dist/ecs-oidc-deploy /ecs-oidc-deploy
# No USER: the pipe runs as root, as Bitbucket runs every pipe, because Bitbucket needs root to
# write the pipe's storage folders (BITBUCKET_PIPE_STORAGE_DIR) in the mounted clone. The image
# has nothing else in it (no shell, no libc, no /etc/passwd) for root to use.
ENTRYPOINT ["/ecs-oidc-deploy"]
