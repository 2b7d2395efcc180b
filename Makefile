# wsloop — `make run` to serve, `make test` to prove it works.
CARGO ?= cargo
ARGS ?=

.PHONY: run build setup test unit lint autobahn autobahn-quick autobahn-update browser nginx bench bench-smoke fuzz clean

run:            ## serve on 127.0.0.1:8080 (extra flags: make run ARGS=--operator)
	$(CARGO) build --release
	./target/release/wsloop --port 8080 $(ARGS)

build:
	$(CARGO) build --release

setup:          ## check for (as root: install) what the tests need; seconds when all is there
	bash .ci/setup

test: setup lint unit autobahn browser nginx bench-smoke   ## set-up, then everything that proves the server works

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

nginx: build    ## tests/nginx/nginx.conf in front of wsloop (skipped, with the reason, without nginx)
	tests/nginx/check.sh

bench:          ## wsloop vs raw TCP, tokio-tungstenite and Node ws; writes benches/results/
	benches/run

bench-smoke:    ## a ~15 s run of the load generator against wsloop (proves it works)
	benches/run --smoke

FUZZ_SECONDS ?= 60
fuzz:           ## each fuzz target for FUZZ_SECONDS (cargo-fuzz; RUSTC_BOOTSTRAP lets stable build it)
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	cd fuzz && for t in handshake frames connection; do \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done

clean:
	$(CARGO) clean
