# The two commands of the README: `make demo` (set up + publish the shipped example to the embedded
# local hub) and `make test` (the whole test suite). Everything installs into .venv, pinned by constraints.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hubkit-installed
EXAMPLE_RUN := runs/timm-digits
PYTEST_ARGS ?=

.PHONY: setup browser demo test test-all lint bench-decode clean update-goldens

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) scripts/check_disk.py --need-gib 7 .
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

$(EXAMPLE_RUN)/summary.csv: | $(STAMP)
	$(BIN)/python examples/timm_digits/train.py --output $(EXAMPLE_RUN)

demo: setup $(EXAMPLE_RUN)/summary.csv
	$(BIN)/hubkit publish $(EXAMPLE_RUN)

# The local hub's pages are tested in a real headless browser: Debian's chromium + chromium-driver.
# Installed when missing and we are root with apt (CI); otherwise those tests skip and say why.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; } \
			|| echo "could not install chromium: the browser tests will be skipped"; \
	else echo "chromium/chromedriver missing (not root with apt-get): the browser tests will be skipped"; fi

# Tests marked `slow` (end-to-end runs of the frameworks' own trainers, the browser, the zoo-wide cards) run
# in CI (CI=true, as .ci/run has it) and with `make test-all`; elsewhere `make test` skips them to stay lean.
SLOW := $(if $(CI),,-m "not slow")

# pytest exits 5 when it collects no test: say so instead of failing on it.
test: setup browser
	$(BIN)/python -m pytest -n 2 $(SLOW) $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "no tests were collected"; exit 0; fi; exit $$status

test-all:
	$(MAKE) test CI=true

# Rewrite the golden model cards (tests/golden/cards/) from the current templates; review the diff.
update-goldens: setup
	$(BIN)/python -m pytest -q tests/test_cards_golden.py --update-goldens

lint: setup
	$(BIN)/ruff check hubkit tests examples benchmarks action scripts
	$(BIN)/ruff format --check hubkit tests examples benchmarks action scripts
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs build *.egg-info
