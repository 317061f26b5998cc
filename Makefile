# mongostash — build, test, demo. `make test` is what CI runs (.ci/run).
GO        ?= go
BIN       := bin
TESTBED   := $(BIN)/testbed
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
GOFILES   := $(shell git ls-files '*.go' 2>/dev/null)

.PHONY: all build testbed test test-faults test-v2 fmt-check vet bench bench-v2 demo clean

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

# Benchmarks: the packages' own with the usual -benchtime (pitr's BenchmarkArchiver* among
# them: oplog entries archived per second and peak RSS), then the end-to-end ones of
# internal/bench (real binary, server and S3 store; side by side with mongodump and
# mongorestore when they are on PATH) with three runs each, for medians.
# BENCH selects benchmarks by name, e.g. make bench-v2 BENCH='Restore$$'.
BENCH     ?= .
BENCHPKGS  = $(shell $(GO) list ./... | grep -v /internal/bench)

bench: testbed
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -timeout 30m $(BENCHPKGS)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime 3x -timeout 180m ./internal/bench

# The end-to-end benchmarks against FerretDB v2 (PostgreSQL 15 + DocumentDB), started by
# .ci/with-ferretdb2 with the stock mongo-tools (100.x) on PATH for the side-by-side ratios.
# Both are optional tools the CI machine provides outside the repository; without them this
# says so and does nothing (any server works through MONGOSTASH_TEST_MONGO_URL instead).
bench-v2: testbed
	@.ci/with-ferretdb2 $(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime 3x -timeout 180m ./internal/bench; \
	rc=$$?; [ $$rc -eq 3 ] && exit 0; exit $$rc

# Every test once more against FerretDB v2 (.ci/run's second pass), where .ci/with-ferretdb2
# finds it installed (else it says so and does nothing); never part of make test.
test-v2: testbed
	@.ci/with-ferretdb2 $(GO) test -race -count=1 -timeout 40m ./...; \
	rc=$$?; [ $$rc -eq 3 ] && exit 0; exit $$rc

demo: build testbed
	$(GO) run ./internal/demo

clean:
	rm -rf $(BIN)
