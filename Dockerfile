# mongostash: one static binary in an otherwise empty image.
# Build: docker build --build-arg VERSION=$(git describe --tags --always) \
#          --build-arg COMMIT=$(git rev-parse --short=12 HEAD) -t REGISTRY/mongostash:TAG .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /mongostash ./cmd/mongostash

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /mongostash /mongostash
USER 65532:65532
ENTRYPOINT ["/mongostash"]
