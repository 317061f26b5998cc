# mongostash — build, test, demo. `make test` is what CI runs (.ci/run).
GO        ?= go
BIN       := bin
TESTBED   := $(BIN)/testbed
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOFILES   := $(shell git ls-files '*.go' 2>/dev/null)

.PHONY: all build testbed test test-faults test-v2 fmt-check vet bench bench-v2 soak demo demo-pitr demo-intro install clean

all: build

build:
	@echo "== building bin/mongostash"
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/mongostash ./cmd/mongostash

# The test bed (FerretDB with SQLite, versitygw, fake-gcs-server, and kubeconform for the
# manifests' test), built from testbed/go.mod's pinned versions, and Azurite, installed with
# npm ci from the lock file in testbed/azurite (Node.js 20 and npm: installed with apt-get when missing and root).
# Go's build cache makes the rebuild after the first one take seconds.
testbed: $(TESTBED)/ferretdb $(TESTBED)/versitygw $(TESTBED)/kubeconform $(TESTBED)/fake-gcs-server $(TESTBED)/azurite/.installed

$(TESTBED)/ferretdb: testbed/go.mod testbed/go.sum $(wildcard testbed/ferretdb/*.go)
	@echo "== building the test bed's FerretDB (the longest build: minutes the first time)"
	cd testbed && $(GO) build -o ../$@ ./ferretdb

$(TESTBED)/versitygw: testbed/go.mod testbed/go.sum
	@echo "== building the test bed's versitygw (S3)"
	cd testbed && $(GO) build -o ../$@ github.com/versity/versitygw/cmd/versitygw

$(TESTBED)/kubeconform: testbed/go.mod testbed/go.sum
	@echo "== building kubeconform (the manifests' validator)"
	cd testbed && $(GO) build -o ../$@ github.com/yannh/kubeconform/cmd/kubeconform

$(TESTBED)/fake-gcs-server: testbed/go.mod testbed/go.sum
	@echo "== building the test bed's fake-gcs-server (Google Cloud Storage emulator)"
	cd testbed && $(GO) build -o ../$@ github.com/fsouza/fake-gcs-server

$(TESTBED)/azurite/.installed: testbed/azurite/package.json testbed/azurite/package-lock.json
	@echo "== installing the test bed's Azurite (Azure Blob Storage emulator) with npm"
	@command -v npm >/dev/null 2>&1 || testbed/azurite/install-node
	rm -rf $(TESTBED)/azurite $(TESTBED)/azurite.tmp && mkdir -p $(TESTBED)/azurite.tmp
	cp testbed/azurite/package.json testbed/azurite/package-lock.json $(TESTBED)/azurite.tmp/
	cd $(TESTBED)/azurite.tmp && npm ci --omit=dev --no-audit --no-fund --loglevel=error
	mv $(TESTBED)/azurite.tmp $(TESTBED)/azurite && touch $@

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
# them: oplog entries archived per second and peak RSS; storage/internal/storebench: each
# store against its test-bed server, side by side), then the end-to-end ones of
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

# The soak (internal/soak, docs/development.md): SOAK_CYCLES cycles of writes, pitr,
# backups, prunes and restores through the built binary, with mongostash, S3 and MongoDB
# killed (SIGKILL) at random moments, then the checks of docs/pitr.md. Seeded: SOAK_SEED
# (printed) repeats a run's choices. Never part of make test; CI may run a short one
# (make soak SOAK_CYCLES=5). Every process's log is kept in SOAK_LOG_DIR (printed).
SOAK_CYCLES ?= 20
SOAK_SEED   ?=
soak: build testbed
	SOAK_CYCLES=$(SOAK_CYCLES) SOAK_SEED=$(SOAK_SEED) MONGOSTASH_BINARY=$(abspath $(BIN)/mongostash) \
		$(GO) test -count=1 -v -run '^TestSoak$$' -timeout 0 ./internal/soak

# The demos build mongostash, the test bed and the demo itself, then run it against servers
# of its own on loopback ports. The first run on an empty Go build cache compiles about
# 1,000 packages (FerretDB, versitygw, the AWS SDK, the MongoDB driver): about 10 minutes
# on 2 cores, each step named as it starts; later runs build nothing and take a minute.
demo: demo-intro build testbed
	@echo "== building the demo (internal/demo)"
	@$(GO) build -o $(BIN)/demo ./internal/demo
	$(BIN)/demo

# Point-in-time recovery: backup --oplog (age-encrypted), pitr, list --windows,
# verify --oplog, restore --to-time.
demo-pitr: demo-intro build testbed
	@echo "== building the demo (internal/demo)"
	@$(GO) build -o $(BIN)/demo ./internal/demo
	$(BIN)/demo -pitr

demo-intro:
	@echo "make $(MAKECMDGOALS): builds bin/mongostash, the test bed (FerretDB v1.24 on SQLite, versitygw,"
	@echo "kubeconform) and the demo, then runs the demo against servers of its own."
	@echo "A first run on an empty Go build cache compiles ~1,000 packages: about 10 minutes on 2 cores;"
	@echo "later runs take about a minute. Each build step is named as it starts."

# Install the binary built by make build (PREFIX=/usr/local by default; DESTDIR for packaging).
PREFIX    ?= /usr/local
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN)/mongostash $(DESTDIR)$(PREFIX)/bin/mongostash

clean:
	rm -rf $(BIN)
