# The README's commands. Each creates .venv on first use and installs into it,
# so a fresh machine needs only Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint install clean browser portal-packages fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -rf build/demo
	$(BIN)/clearcrawl synth --output build/demo/crawl --pages 600 --files 2 --seed 7
	$(BIN)/clearcrawl run --input 'build/demo/crawl/*.warc.gz' --registry optout_registry \
		--robots 'build/demo/crawl/robots/*.warc.gz' --output build/demo/out
	@echo "Rights-holder portal on the demo registry: $(BIN)/clearcrawl portal add-operator --registry optout_registry --username admin, then $(BIN)/clearcrawl portal serve --registry optout_registry --outputs build/demo/out (http://127.0.0.1:8080/)"

# Headless Chromium renders the HTML audit report in a test (Debian's package; the
# test skips with a reason where it cannot be installed).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && \
		    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
		echo "note: chromium is not installed; the report screenshot test will skip"

# The portal's tests drive Debian's chromium through chromium-driver and start a throwaway
# server from Debian's postgresql; without them those tests skip with a reason.
PORTAL_PACKAGES := chromium chromium-driver postgresql
portal-packages:
	@{ command -v chromedriver >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(PORTAL_PACKAGES) >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && \
		    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(PORTAL_PACKAGES) >/dev/null 2>&1; }; }; } || \
		echo "note: chromium-driver or postgresql is not installed; the portal's browser and PostgreSQL tests will skip"

test: $(STAMP) browser portal-packages
	$(BIN)/python -m pytest

# The property tests and the corruption battery with a long budget (20,000 examples a
# property, 20 seeded rounds of each corruption): minutes rather than seconds.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=long CLEARCRAWL_BATTERY_ROUNDS=20 $(BIN)/python -m pytest tests/reliability

lint: $(STAMP)
	$(BIN)/ruff check src tests bench pipelines

# SIZE=large: the pipeline on about 1 GB of WARC in 8 files, and one 1 GiB WARC for its
# peak RSS (about 20 minutes).
SIZE ?= default
QUICK ?=
bench: $(STAMP)
	BENCH_SIZE=$(SIZE) QUICK=$(QUICK) $(BIN)/python bench/run.py

clean:
	rm -rf build .pytest_cache
