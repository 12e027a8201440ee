# Marketing Assistant. The two commands that matter: `make run` and `make test`.
GO      ?= go
BIN     := bin/assistant
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
GOFILES  = $(shell git ls-files '*.go' | grep -v '_templ.go$$')

.PHONY: build run test deps check generate bench vendor fuzz

## build: compile the binary into bin/assistant
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/assistant

## run: build and start the server (embedded PostgreSQL under ./data unless DATABASE_URL is set)
run: build
	LOG_FORMAT=$${LOG_FORMAT:-text} ./$(BIN) serve

## deps: install missing system packages for the tests (PostgreSQL, redis-server, chromium, CJK font)
deps:
	./scripts/install-deps.sh

## check: formatting, vet and stale generated templ code
check:
	@out="$$(gofmt -l $(GOFILES))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool templ generate -check

## test: the whole suite, race detector on, then a short fuzz run
test: deps check
	$(GO) test -race -timeout 30m ./...
	$(MAKE) fuzz

# FUZZ lists package:target pairs; each runs for FUZZTIME. Crashers land in the
# package's testdata/fuzz and become regression tests.
FUZZ ?= ./services/wxcrypto:FuzzDecrypt ./services/wxcrypto:FuzzOpen ./services/wxcrypto:FuzzParseEnvelope \
	./services/wxcrypto:FuzzScanFlat \
	./services:FuzzNormalizePhone ./handlers:FuzzCRMBatchDecode
FUZZTIME ?= 4s

## fuzz: run every fuzz target briefly
fuzz:
	@set -e; for t in $(FUZZ); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn"; $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg; done

## bench: run every benchmark scenario against its same-run baseline; writes docs/benchmarks.md
bench:
	$(GO) run ./scripts/benchreport -out docs/benchmarks.md ./...

## generate: regenerate templ components
generate:
	$(GO) tool templ generate

## vendor: refresh the vendored front-end files from the npm registry (needs npm)
vendor:
	./scripts/vendor.sh
