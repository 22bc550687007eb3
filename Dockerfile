# ecs-oidc-deploy: one static (musl) binary and a CA bundle in an otherwise empty image, for
# linux/amd64 and linux/arm64. Needs BuildKit (docker buildx) or buildah.
#
# Release build: both platforms, one manifest list (.ci/release runs this):
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=X.Y.Z \
#     -t org/ecs-oidc-deploy:X.Y.Z --push .
# The builder stage runs on the build machine's own platform ($BUILDPLATFORM) and cross-compiles
# for the target platform with test/build-static, the one recipe every build uses (zig as C
# compiler and linker, cargo auditable). The final stage only copies files, so no stage ever
# runs emulated.
#
# From a binary built outside (test/image-test does this; nothing is pulled, so it also works
# without registry access). The context then needs only dist/ecs-oidc-deploy, built for the
# platform asked for, and dist/ca-certificates.crt; the builder stage is skipped:
#   test/build-static aarch64
#   buildah bud --platform linux/arm64 --build-arg BINARY_FROM=prebuilt \
#     --build-arg VERSION=X.Y.Z -f Dockerfile <context>

# Where /dist/ecs-oidc-deploy and /dist/ca-certificates.crt come from: `builder` or `prebuilt`.
ARG BINARY_FROM=builder

# The toolchain of Cargo.toml's rust-version, on Debian bookworm. Not pinned by digest: no
# digest for this tag could be taken from a source we trust (test/README.md, "Releasing").
FROM --platform=$BUILDPLATFORM docker.io/library/rust:1.95-bookworm AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# test/build-static installs zig and cargo-zigbuild from PyPI into a venv.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv=3.11.2-1+b1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The pinned build tools in a layer of their own, which both platforms share and which stays
# cached until test/build-static changes.
COPY test/build-static test/build-static
RUN test/build-static tools
COPY . .
ARG TARGETARCH
RUN case "$TARGETARCH" in \
      amd64) arch=x86_64 ;; \
      arm64) arch=aarch64 ;; \
      *) echo "linux/$TARGETARCH is not supported: build linux/amd64 or linux/arm64" >&2; exit 1 ;; \
    esac \
    && bin="$(test/build-static "$arch" | tail -n 1)" \
    && mkdir /dist \
    && cp "$bin" /dist/ecs-oidc-deploy \
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
