# IMSP. `make demo` and `make test` are all a fresh machine needs (they install first).
SHELL := /bin/bash
export npm_config_nodedir ?= /usr
export PUPPETEER_SKIP_DOWNLOAD := 1
NODE_TEST := node --import tsx --test --test-reporter=spec --enable-source-maps
TEST_FILES = $(shell find test -name '*.test.ts' | sort)

.PHONY: install generate check-generated typecheck test test-fast coverage bench bench-load bench-store site demo \
        requirements conformance mutants soak prop-mutants fuzz clean

node_modules/.installed: package.json package-lock.json
	.ci/npm-install
	touch $@

install: node_modules/.installed

generate: install
	node --import tsx grammar/codegen/generate.ts

check-generated: install
	node --import tsx grammar/codegen/generate.ts --check

typecheck: install
	npx tsc -p tsconfig.json --noEmit

test: install typecheck check-generated lint
	run=imsp-$$$$-$$(date +%s%N); IMSP_TEST_RUN=$$run $(NODE_TEST) $(TEST_FILES); rc=$$?; \
	  node --import tsx test/helpers/leftovers.ts $$run || rc=1; exit $$rc

coverage: install
	npx c8 --all --include 'reference/**/*.ts' --include 'conformance/**/*.ts' --include 'generated/**/*.ts' --include 'codec/**/*.ts' \
	  --exclude '**/*.d.ts' --reporter text --reporter html --check-coverage --lines 80 \
	  $(NODE_TEST) $(TEST_FILES)

dist/.built: install $(shell find generated codec reference conformance bench -name '*.ts' 2>/dev/null)
	rm -rf dist && npx tsc -p tsconfig.json --outDir dist && touch $@

bench: dist/.built
	node dist/bench/codec.js
	node dist/bench/startup.js

# The compiled servers read the registries from generated/ only (no spec/ beside dist/).
bench-load: dist/.built
	node dist/bench/load.js $(ARGS)

bench-store: dist/.built
	node dist/bench/store.js

site: install
	node --import tsx spec/site/build.ts

requirements: install
	node --import tsx spec/site/requirements.ts

demo: install
	node --import tsx reference/demo/demo.ts

conformance: install
	node --import tsx conformance/selftest.ts

mutants: install
	node --import tsx conformance/mutants/run.ts

soak: install
	node --import tsx test/properties/soak.ts $(ARGS)

prop-mutants: install
	node --import tsx test/properties/mutants.ts $(ARGS)

fuzz: install
	node --import tsx test/codec/fuzz-long.ts $(ARGS)

clean:
	rm -rf dist site coverage .demo

# --- client (issue 17) ---
.PHONY: system-deps
# The Debian packages the tests need (chromium, postgresql, tmux, spin); nothing when all are there.
system-deps:
	.ci/system-deps
test: system-deps

# --- bench (issue 15) ---
.PHONY: bench-xmpp
# IMSP and ejabberd (PLAIN; SCRAM-SHA-256 + TLS) and Prosody in one run, every ratio from that run.
# Installs ejabberd/Prosody from Debian when missing (root); stops everything it starts.
bench-xmpp: dist/.built
	node dist/bench/xmpp.js $(ARGS)

# --- kittool (issues 12, 16) ---
.PHONY: build pack-kit kit-mutation
BUILD_INPUTS = tsconfig.build.json conformance/package/build.ts $(shell find generated codec reference conformance spec/fixtures spec/registry -type f 2>/dev/null)
# The shipped code compiled to dist/ with the spec data it reads at run time (conformance/package/build.ts).
# The installed bins (npm pack / npm install -g) run this; `npm pack` runs it first (prepack).
dist/.build: $(BUILD_INPUTS)
	node --import tsx conformance/package/build.ts
	touch $@

build: install dist/.build

# The kit alone as an npm package, its libraries bundled: dist/imsp-conformance-VERSION.tgz.
pack-kit: build
	node --import tsx conformance/package/pack.ts

# StrykerJS 9 over reference/ (crs, ms, client, net, store, crypto), the kit as the test command, on a
# seeded sample of the mutants (conformance/mutation/). Not part of `make test`: about 1 h for 150
# mutants on a quiet 2-core machine. ARGS: --sample N --seed S --concurrency C --runs N --timeout MS
# --chunk N (resumable: outcomes kept in reports/kit-mutation/runs.jsonl) --rerun-survivors [REGEX] --report --fresh
# --no-coverage (default: a coverage dry run first; a mutant runs only where a case executes it)
kit-mutation: install
	node --import tsx conformance/mutation/run.ts $(ARGS)

# --- kit (issue 12) ---
.PHONY: requirements-check
# Tracing check (spec/site/coverage.ts): every wire MUST/SHOULD binding a CRS, MS or client has a kit
# case for that role or an entry in spec/exceptions.json; no case names a requirement it does not
# declare; the cases built by factories keep the rules of the hand-written ones (literal origin,
# unique role/section/n ids that do not move with the limits). make test runs it through
# test/conformance/requirements-check.test.ts.
requirements-check: install
	node --import tsx spec/site/requirements.ts --check

# --- refactor (issue 16) ---
.PHONY: lint lint-fix
# Lint and format (Biome 2, biome.json), dependency rules (dependency-cruiser, .dependency-cruiser.cjs:
# generated/ self-contained, codec/ on generated/ only, conformance/ and reference/ apart, no cycles),
# and requirement citations in one form, checked against generated/requirements.json (tools/citations.ts).
lint: install
	npx biome check .
	npx depcruise --config .dependency-cruiser.cjs --output-type err generated codec reference conformance
	node --import tsx tools/citations.ts

# What the lead's final sweep runs once (see /work/coord/notes/refactor-sweep.md): format and safe and
# unsafe lint fixes, citations rewritten into the one form.
lint-fix: install
	npx biome check --write --unsafe .
	node --import tsx tools/citations.ts --fix

# --- model (issue 18) ---
.PHONY: model-check model-mutants
# The protocol model-checked: generated/model/imsp.pml (make generate) verified by Spin; installs spin with apt if missing.
model-check: install
	node --import tsx spec/model/check.ts $(ARGS)

model-mutants: install
	node --import tsx spec/model/mutants.ts $(ARGS)

test: model-check

# --- chaos (issue 14) ---
.PHONY: chaos
# The fault campaign (test/chaos/): the compiled CRS and three MSs as child processes, on SQLite
# (durability full) then on a throwaway PostgreSQL cluster; kill -9, SIGSTOP/SIGCONT, partitions and
# cut client links at random from a seed; INV-1, -2, -3, -7, -10 and the reconnect bound checked after
# each fault. Stops by itself; writes reports/chaos-SEED.{md,json}. ARGS: --minutes N (20) --seed S --short
chaos: build
	node --import tsx test/chaos/cli.ts $(ARGS)

# --- p2p (issue 15) ---
.PHONY: bench-p2p
# The P2P phase of bench-xmpp alone: one pair, 256 pipelined MSGs, CPU per MSG of each end (/proc).
bench-p2p: dist/.built
	node dist/bench/p2p-chat.js $(ARGS)

# --- fuzz (issues 12, 14) ---
.PHONY: fuzz-roles
# The kit's wire and state fuzzers at scale against the reference CRS, MS and client (loopback only,
# bounded by --count and --max-seconds per role; every process started is stopped). Many hostile inputs
# pipelined per connection (--pipeline), each answer judged against the codec's and the error table's
# verdict. ARGS e.g. ARGS="--role crs --count 100000 --max-seconds 300 --json out.json".
fuzz-roles: install
	node --import tsx conformance/fuzz-roles.ts $(ARGS)

# --- refactor (issue 16) ---
.PHONY: function-length
# Outside the tests, no function over 80 lines of code unless tools/long-functions.json lists it with
# its reason. Part of make lint (so of make test).
function-length: install
	node --import tsx tools/function-length.ts
lint: function-length

# --- codecscale (issue 15) ---
.PHONY: bench-scale
# Memory at scale: 100,000 concurrent sessions on this machine (7 MSs of ~15,000), RSS per process and
# per session, logins/s, and the CRS's own count of online users. Raises the open-file limit first and
# says when it cannot (bench/scale.ts then refuses a layout the limit cannot hold). ARGS: --sessions N ...
bench-scale: dist/.built
	@ulimit -n 131072 2>/dev/null || echo "bench-scale: could not raise ulimit -n above $$(ulimit -n)" >&2; \
	  node dist/bench/scale.js $(ARGS)
