# Tessera — the two commands a user needs are `make run` and `make test`.
# Each installs what is missing first: Debian packages (when root and they are absent),
# then a virtual environment in .venv with the project and its extras.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := python3-venv python3-dev gcc
STAMP_TEST := $(VENV)/.installed-test
STAMP_BENCH := $(VENV)/.installed-bench
STAMP_BROWSER := $(VENV)/.installed-browser

# Install the Debian packages among $(1) that are missing (as root), or say which to install.
define apt_install
@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
    echo "installing Debian packages:" $$missing; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
  else echo "please install:" $$missing "($(2))" >&2; exit 1; fi; fi
endef

.PHONY: run test lint bench install clean demo

$(BIN)/python:
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null \
	  && command -v gcc >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $(APT_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	  else echo "please install: $(APT_PACKAGES)" >&2; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

KERNEL := setup.py src/tessera/index/_hamming_kernel.c

$(STAMP_TEST): pyproject.toml $(KERNEL) | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

# Bench peers: vpdq builds against FFmpeg's development files; pyacoustid loads libchromaprint;
# espeak-ng and frozen-bubble-data give the audio benchmark real speech and music.
BENCH_APT_PACKAGES := pkg-config libavcodec-dev libavformat-dev libavutil-dev libswscale-dev \
	libavdevice-dev libchromaprint1 espeak-ng frozen-bubble-data

$(STAMP_BENCH): pyproject.toml $(KERNEL) | $(BIN)/python
	$(call apt_install,$(BENCH_APT_PACKAGES),for the vpdq and Chromaprint peers)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	@touch $@

# The browser tests drive Debian's chromium through Playwright (never a downloaded browser).
BROWSER_APT_PACKAGES := chromium

$(STAMP_BROWSER): | $(BIN)/python
	$(call apt_install,$(BROWSER_APT_PACKAGES),for the browser tests)
	@touch $@

install: $(STAMP_TEST)

## run: start the node on 127.0.0.1:8000 with SQLite in var/ (kept between runs); the first
## start prints how to get a first token.
run: $(STAMP_TEST)
	$(BIN)/tessera --db sqlite:///var/tessera.db serve

## demo: a short guided demo of the CLI on images Tessera draws (in demo/).
demo: $(STAMP_TEST)
	$(BIN)/tessera demo --workdir demo

lint: $(STAMP_TEST)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

## test: lint, type-check, and run the whole suite (SQLite and PostgreSQL).
test: lint $(STAMP_BROWSER)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

## bench: the benchmarks against python-threatexchange; writes bench/RESULTS.md.
bench: $(STAMP_BENCH)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) demo var .pytest_cache .mypy_cache .ruff_cache .hypothesis
