# syntax=docker/dockerfile:1
#
# crmsync image: the worker and the enqueue CLI, static, on distroless
# (no shell, no package manager), running as uid 65532 (nonroot).
#
#   docker build -t crmsync .
#   docker run --rm -e EMBEDDED_NATS_TOKEN="$(openssl rand -hex 32)" \
#     -p 127.0.0.1:8080:8080 -p 127.0.0.1:4222:4222 crmsync -sandbox
#
# .ci/run builds the binaries with the same go build line (it has no Docker
# engine) and checks GO_VERSION against go.mod.

# Major.minor of the go directive in go.mod. The golang image sets
# GOTOOLCHAIN=local, so the tag must carry a patch release >= go.mod's;
# the floating 1.26 tag always does.
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
# Modules first, so a code change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags='-s -w' -o /out/bin/ ./cmd/worker ./cmd/enqueue
# The embedded JetStream stores (EMBEDDED_NATS_STORE): the worker's and the
# compose sandbox's, which never share one. distroless has no shell to
# mkdir/chown with, so the directories are made here and copied (a named
# volume mounted on one takes its owner from the image).
RUN mkdir -p /out/data/nats /out/data/sandbox

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="crmsync" \
      org.opencontainers.image.description="Sync worker: NATS JetStream jobs to KlickTipp, Klipy CRM and ClickyID"
COPY --from=build /out/bin/worker /out/bin/enqueue /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data /data
# Numeric, so Kubernetes runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /data
# Without NATS_URL the worker starts an embedded JetStream server. In a
# container it must listen beyond loopback to be reachable through -p, so
# it accepts only clients presenting its token: EMBEDDED_NATS_TOKEN(_FILE),
# or else one generated into /data/nats/auth.token (0600) at first start.
# It keeps its store in /data (mount a volume there to keep jobs across
# restarts). These are ignored when NATS_URL is set. HTTP_ADDR listens
# beyond loopback too (outside the image its default is 127.0.0.1:8080):
# /metrics, /healthz and /readyz hold no secrets; publish it on loopback or
# an internal network.
ENV EMBEDDED_NATS_ADDR=0.0.0.0:4222 \
    EMBEDDED_NATS_STORE=/data/nats \
    HTTP_ADDR=:8080
# /metrics /healthz /readyz; 4222 only in embedded mode.
EXPOSE 8080 4222
# No curl or wget in distroless: the worker checks itself. "worker
# -healthcheck" GETs http://127.0.0.1:<port of HTTP_ADDR>/healthz and exits
# 0 on 200, else 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/worker", "-healthcheck"]
# SIGTERM starts the graceful shutdown (WORKER_SHUTDOWN_GRACE, default 30s):
# give the container longer than that (docker stop -t 75, compose
# stop_grace_period, Kubernetes terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/worker"]
