# The action's image: one static binary on an empty base.
#
# The build stage runs on the builder's own platform and cross-compiles for
# the target, so a multi-platform build (linux/amd64, linux/arm64) needs no
# emulation. The tag "action" leaves out the commands the action never
# runs (demo, sandbox, policy, doctor: `make build` has them);
# "nethttpomithttp2" leaves out HTTP/2, which none of the action's
# endpoints needs. The final stage is FROM scratch: the binary carries its
# own CA roots (golang.org/x/crypto/x509roots/fallback), so TLS works
# without an OS.

# golang:1.26 (Go 1.26.5, Debian trixie), pinned by the digest of its
# multi-platform index so that a moved tag cannot change what builds the
# action; bump the tag and the digest together.
FROM --platform=$BUILDPLATFORM golang:1.26@sha256:3aff6657219a4d9c14e27fb1d8976c49c29fddb70ba835014f477e1c70636647 AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -tags action,nethttpomithttp2 -trimpath -ldflags="-s -w" -o /rootfs/oidc-ecs-deploy . \
 && mkdir -p /rootfs/tmp && chmod 1777 /rootfs/tmp

# The final stage. GitHub runs container actions as root (the workspace and
# the runner's files belong to root), so there is no USER line.
FROM scratch
COPY --from=build /rootfs/ /
ENV TMPDIR=/tmp
ENTRYPOINT ["/oidc-ecs-deploy"]
