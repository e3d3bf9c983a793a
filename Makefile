# Two commands set everything up: `make run` (the demo) and `make test` (every test).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow lint bench bench-smoke browser screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/leap-connect demo

test: $(STAMP)
	$(BIN)/pytest -n 2

# The long reliability tests (issue 9); pytest's "no tests collected" (5) is not a failure here.
test-slow: $(STAMP)
	$(BIN)/pytest -m slow -p no:cacheprovider; status=$$?; [ $$status -eq 0 ] || [ $$status -eq 5 ]

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(BIN)/python -m bench

# Every benchmark at a tiny size: it runs and prints its table (CI runs this; no figures).
bench-smoke: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(BIN)/python -m bench.smoke

# Debian's Chromium for the end-to-end tests (Playwright drives it; it cannot download its own here).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Every end-to-end walk in Chromium, each page kept as a PNG under test-artifacts/e2e/ for review.
screenshots: $(STAMP) browser
	rm -rf test-artifacts/e2e
	LEAP_CONNECT_REQUIRE_BROWSER=1 $(BIN)/pytest tests/e2e -q -p no:cacheprovider
	@echo "Screenshots: test-artifacts/e2e/<test>/<NN>-<page>.png"

clean:
	rm -rf $(VENV) .leap-connect .pytest_cache .mypy_cache .ruff_cache
