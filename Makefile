# mongostash — build, test, demo. `make test` is what CI runs (.ci/run).
GO        ?= go
BIN       := bin
TESTBED   := $(BIN)/testbed
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
GOFILES   := $(shell git ls-files '*.go' 2>/dev/null)

.PHONY: all build testbed test test-faults fmt-check vet bench demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/mongostash ./cmd/mongostash

# The test-bed servers (FerretDB with SQLite, versitygw), built from testbed/go.mod's pinned
# versions. Go's build cache makes the rebuild after the first one take seconds.
testbed: $(TESTBED)/ferretdb $(TESTBED)/versitygw

$(TESTBED)/ferretdb: testbed/go.mod testbed/go.sum $(wildcard testbed/ferretdb/*.go)
	cd testbed && $(GO) build -o ../$@ ./ferretdb

$(TESTBED)/versitygw: testbed/go.mod testbed/go.sum
	cd testbed && $(GO) build -o ../$@ github.com/versity/versitygw/cmd/versitygw

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd testbed && $(GO) vet ./...

test: testbed fmt-check vet
	$(GO) test -race -count=1 -timeout 25m ./...

# The fault tests too long for every run (S3 down for 3 minutes, default retries); make test
# runs every other fault test. CI (.ci/run) runs both.
test-faults: testbed
	MONGOSTASH_TEST_FAULTS_LONG=1 $(GO) test -race -count=1 -timeout 15m -run '^TestFaultS3DownThreeMinutes$$' -v ./cmd/mongostash/

bench: testbed
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

demo: build testbed
	$(GO) run ./internal/demo

clean:
	rm -rf $(BIN)
