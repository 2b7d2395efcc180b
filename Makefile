# wsloop — `make run` to serve, `make test` to prove it works.
CARGO ?= cargo
ARGS ?=

.PHONY: run cluster build setup test unit lint autobahn autobahn-quick autobahn-update browser nginx bench bench-smoke fuzz fuzz-smoke fuzz-merge churn clean

run:            ## serve on 127.0.0.1:8080 (extra flags: make run ARGS=--operator)
	$(CARGO) build --release
	./target/release/wsloop --port 8080 $(ARGS)

N ?= 2
cluster: build  ## N (2) nodes on port 8080 (--reuse-port) joined through a throw-away redis-server
	N=$(N) tests/cluster/run.sh

build:
	$(CARGO) build --release

setup:          ## check for (as root: install) what the tests need; seconds when all is there
	bash .ci/setup

test: setup lint unit fuzz-smoke autobahn browser nginx bench-smoke   ## set-up, then everything that proves the server works

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --quiet -- -D warnings
	$(CARGO) check --quiet --manifest-path fuzz/Cargo.toml   # the fuzz targets still build

unit:           ## parser unit tests and socket integration tests
	$(CARGO) test --release

autobahn:       ## RFC 6455 conformance (Autobahn TestSuite) vs tests/autobahn/expected.json
	tests/autobahn/conformance

autobahn-quick:
	tests/autobahn/conformance --quick

autobahn-update: ## re-record the baseline, then commit tests/autobahn/expected.json
	tests/autobahn/conformance --update

browser: build  ## the web page in headless Chromium
	tests/browser/run.sh

nginx: build    ## tests/nginx/nginx.conf (TLS) and cluster.conf (2 nodes + Redis) in front of wsloop (skipped, with the reason, without nginx/redis-server)
	tests/nginx/check.sh
	tests/nginx/cluster_check.sh

bench:          ## wsloop vs raw TCP, tokio-tungstenite and Node ws (and rooms across nodes through Redis); writes benches/results/
	benches/run

bench-smoke:    ## a ~20 s run of the load generator against wsloop, deflate and 2 nodes through redis-server included (proves it works)
	benches/run --smoke

# The fuzz targets read the committed corpus: fuzz/seeds/<t> (hand-made, fuzz/make_seeds.py),
# fuzz/found/<t> (what earlier runs found, kept by fuzz-merge) and fuzz/regressions/<t>
# (inputs that once broke the code). New inputs go to fuzz/corpus/<t>, which git ignores.
FUZZ_TARGETS = handshake frames connection resp
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_RUN = RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run
fuzz_dirs = corpus/$$t seeds/$$t found/$$t regressions/$$t

fuzz:           ## each fuzz target for FUZZ_SECONDS (cargo-fuzz; RUSTC_BOOTSTRAP lets stable build it)
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do mkdir -p $(fuzz_dirs) && \
	  $(FUZZ_RUN) $$t $(fuzz_dirs) -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done

fuzz-smoke:     ## each fuzz target ~FUZZ_SMOKE_SECONDS (20) on the committed corpus; part of make test
	@command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: run make setup"; exit 1; }
	mkdir -p target && cd fuzz && for t in $(FUZZ_TARGETS); do mkdir -p $(fuzz_dirs); \
	  log=../target/fuzz-smoke-$$t.log; \
	  $(FUZZ_RUN) $$t $(fuzz_dirs) -- -max_total_time=$(FUZZ_SMOKE_SECONDS) >$$log 2>&1; rc=$$?; \
	  grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|Done |thread|assertion|  left|  right|SUMMARY|artifact)' $$log; \
	  [ $$rc -eq 0 ] || { echo "fuzz target $$t failed (rc $$rc): $$log, fuzz/artifacts/$$t/"; exit 1; }; done

fuzz-merge:     ## keep what fuzz/corpus/<t> adds in coverage in the committed fuzz/found/<t>
	cd fuzz && for t in $(FUZZ_TARGETS); do mkdir -p $(fuzz_dirs) && \
	  $(FUZZ_RUN) $$t found/$$t corpus/$$t -- -merge=1 || exit 1; done

CHURN_SECONDS ?= 600
churn: build    ## 2,000 clients connect/chat/upload/drop for CHURN_SECONDS (600); fails unless RSS stays within 10 % after warm-up
	mkdir -p target && python3 benches/churn.py --seconds $(CHURN_SECONDS) --out target/churn.json

clean:
	$(CARGO) clean
