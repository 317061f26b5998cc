# mongostash: one static binary in an otherwise empty image.
# Build: docker build --build-arg VERSION=$(git describe --tags --always) -t mongostash .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /mongostash ./cmd/mongostash

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /mongostash /mongostash
USER 65532:65532
ENTRYPOINT ["/mongostash"]
