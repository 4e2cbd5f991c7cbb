# Cluster agent: build, test, lint, run.
GO            ?= go
BIN           ?= bin/agent
STATICCHECK   ?= honnef.co/go/tools/cmd/staticcheck@v0.6.1
GOLANGCI      ?= github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
TEST_TIMEOUT  ?= 20m
FUZZTIME      ?= 20000x
IMAGE         ?= clusteragent/agent:dev
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS       := -s -w -X github.com/clusteragent/agent/agent.Version=$(VERSION)

.PHONY: chaos chaos-long chaos-bite
.PHONY: bench-go
.PHONY: all build test test-short lint fmt vet staticcheck golangci fuzz run clean tidy-check bench bench-membership bench-kv bench-snapshot docker docker-test

all: lint test build

## build: the agent binary in bin/agent (static, no cgo)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/agent

## docker: the scratch image (IMAGE) around the static binary
docker: build
	docker build -t $(IMAGE) .

## docker-test: the container tests alone (each skips without an engine):
## the docker-compose quick start, the address templates in the image, and
## what deploy/kubernetes relies on (TestDockerStatefulSet); make test runs
## them too
docker-test:
	$(GO) test -count=1 -run Docker ./deploy/
	$(GO) test -count=1 -timeout 15m -run TestDockerStatefulSet ./internal/chaos/dockerrun/

## test: every test, with the race detector; the Kubernetes manifests
## test (its own module, deploy/kubernetes); then the Raft and agent
## suites again on the BoltDB log store (the default is the WAL)
test:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	cd deploy/kubernetes && $(GO) test -count=1 ./...
	AGENT_TEST_LOG_STORE=boltdb $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./raftnode/... ./agent/...

## test-short: skips the long multi-node rounds
test-short:
	$(GO) test -short -count=1 ./...

## lint: gofmt, go vet, staticcheck, and golangci-lint (.golangci.yml:
## the import layering and the injected clock)
lint: fmt vet staticcheck golangci

fmt:
	@out=$$(gofmt -s -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -s would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd deploy/kubernetes && $(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...
	cd deploy/kubernetes && $(GO) run $(STATICCHECK) ./...

golangci:
	$(GO) run $(GOLANGCI) run ./...

## fuzz: runs every fuzz target briefly (FUZZTIME each)
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

## chaos: the fault-injection suite, a few minutes: 3 in-process runs, 1 run of
## agent processes and, where a Docker engine answers, 2 container runs
CHAOS_RUNS     ?= inproc=3,process=1,docker=2
CHAOS_RUN_TIME ?= 30s
CHAOS_OUT      ?= $(CURDIR)/results/chaos
chaos:
	CHAOS_RUNS='$(CHAOS_RUNS)' CHAOS_RUN_TIME=$(CHAOS_RUN_TIME) CHAOS_OUT=$(CHAOS_OUT) CHAOS_SEED=$(CHAOS_SEED) \
	  $(GO) test -count=1 -timeout 60m -run '^TestChaos$$' -v ./internal/chaos/

## chaos-long: repeats runs with new seeds for DURATION, rotating runners, and
## prints the summary table (also written under results/chaos)
DURATION ?= 30m
chaos-long:
	CHAOS_DURATION=$(DURATION) CHAOS_RUN_TIME=30s CHAOS_OUT=$(CHAOS_OUT) CHAOS_SEED=$(CHAOS_SEED) \
	  $(GO) test -count=1 -timeout 24h -run '^TestChaos$$' -v ./internal/chaos/

## chaos-bite: builds the agent broken on purpose (reads that skip the leader
## check; writes acknowledged before they commit) and passes only if the
## suite catches it in most pause and partition runs
BITE_RUNS ?= inproc=2,process=1
chaos-bite:
	@set -e; for tag in chaos_bite_stalereads chaos_bite_earlyack; do \
	  echo "== $$tag"; \
	  CHAOS_RUNS='$(BITE_RUNS)' CHAOS_RUN_TIME=20s CHAOS_OUT=$(CHAOS_OUT)/bite CHAOS_EXPECT=violations \
	  CHAOS_BUILD_TAGS=$$tag CHAOS_FAULTS=partition-leader,pause-leader,partition-follower \
	  $(GO) test -tags $$tag -count=1 -timeout 30m -run '^TestChaos$$' -v ./internal/chaos/; \
	done

## run: three agents on loopback that discover each other through the first
run: build
	BIN=$(BIN) ./scripts/run-local.sh

## tidy-check: fails when go.mod or go.sum are not tidy
tidy-check:
	$(GO) mod tidy && git diff --exit-code go.mod go.sum
	cd deploy/kubernetes && $(GO) mod tidy && git diff --exit-code go.mod go.sum

clean:
	rm -rf bin results

## bench: the performance suite (bench-suite); bench-go: the in-package Go
## benchmarks (membership timings on 3 fresh in-process clusters, KV put,
## snapshot of a million keys)
bench: bench-suite

bench-go: bench-membership bench-kv

bench-membership:
	$(GO) test -run '^$$' -bench BenchmarkMembershipTimings -benchtime 3x -timeout 20m ./agent/

## bench-snapshot: snapshot restore, save and inspect of KEYS keys on 3 agents: time, peak RSS
KEYS ?= 1000000
bench-snapshot: build
	$(GO) run ./bench/cmd/snapbench -binary $(BIN) -keys $(KEYS)

bench-kv:
	$(GO) test -run '^$$' -bench 'BenchmarkKVPut' -benchtime 3000x -timeout 20m ./agent/
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./agent/kv/

## bench-suite: agentbench on three agent processes of bin/agent: PUT and
## linearizable GET at BENCH_CLIENTS clients (BENCH_ROUNDS rounds), leader
## memory, raft.db after BENCH_DISK_WRITES writes, BENCH_CRASHES crash and
## BENCH_FAILOVERS leader failover timings, raftnode.Apply in process,
## gossip pools of BENCH_GOSSIP agents; the tables are printed and written
## as Markdown and JSON under results/bench
BENCH_CLIENTS     ?= 1,16,64
BENCH_DURATION    ?= 5s
BENCH_DISK_WRITES ?= 1000000
BENCH_GOSSIP      ?= 50
BENCH_GOSSIP_INPROC ?= 200
BENCH_OUT         ?= $(CURDIR)/results/bench
BENCH_ROUNDS      ?= 1
BENCH_FAILOVERS   ?= 5
BENCH_CRASHES     ?= 3
BENCH_FLAGS        = -binary $(BIN) -clients $(BENCH_CLIENTS) -duration $(BENCH_DURATION) \
                     -rounds $(BENCH_ROUNDS) -failovers $(BENCH_FAILOVERS) -crashes $(BENCH_CRASHES) \
                     -disk-writes $(BENCH_DISK_WRITES) -gossip '$(BENCH_GOSSIP)' \
                     -gossip-inproc '$(BENCH_GOSSIP_INPROC)' -out $(BENCH_OUT)
.PHONY: bench-suite bench-etcd
bench-suite: build
	$(GO) run ./bench/cmd/agentbench $(BENCH_FLAGS)

## bench-etcd: bench-suite, with the same put and get load against a
## three-member etcd (ETCD_VERSION, built from the module proxy in a
## throwaway module) in ETCD_ROUNDS interleaved rounds, medians and ratios
## ours/etcd in the same table
ETCD_VERSION ?= v3.7.3
ETCD_ROUNDS  ?= 3
bench-etcd: BENCH_ROUNDS = $(ETCD_ROUNDS)
bench-etcd: build
	$(GO) run ./bench/cmd/agentbench $(BENCH_FLAGS) -etcd -etcd-version $(ETCD_VERSION)
