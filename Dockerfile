# syntax=docker/dockerfile:1
# The kmirror image: the webhook (kmirror serve) and every other command.
#   docker build -t registry.example.com/kmirror:v1 --build-arg VERSION=v1 .
#   kmirror manifests --image registry.example.com/kmirror:v1 | kubectl apply -f -
# Without a Docker engine, `make image IMAGE=registry.example.com/kmirror:v1 VERSION=v1`
# builds the same program for linux/amd64 and linux/arm64 (README, "The image").

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X kmirror.dev/kmirror/cmd.Version=${VERSION}" \
      -o /out/kmirror .

# Static, distroless, non-root (uid 65532): no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kmirror /kmirror
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/kmirror"]
CMD ["--help"]
