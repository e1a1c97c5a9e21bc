# The two commands of the README quick start are `make demo` and `make test`.
# Everything they need is installed by the targets below, from the package registries only.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# metaflow-card-notebook (notebook cards in real runs) goes to a folder of its own, on the path
# only of the test run that needs it: installed, it makes every Metaflow process import
# papermill and nbconvert (docs/cards.md).
CARD_NOTEBOOK := $(VENV)/metaflow-card-notebook

.PHONY: demo test test-fast setup setup-node setup-e2e lint protocol pytest extension bench clean

demo: setup
	$(VENV)/bin/flowspin demo

test: setup setup-node setup-e2e lint pytest

setup: $(STAMP)

# One line per stage before it starts: the installs are quiet (-q) and take about a minute on
# a fresh machine, which looked like a hang. The notebook extra stays in: the tests render
# notebook cards (a user's install leaves it out, see the README's "Install").
$(STAMP): pyproject.toml Makefile
	@echo "setup 1/4: Python venv in $(VENV)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "setup 2/4: upgrading pip"
	@$(PY) -m pip install -q --upgrade pip
	@echo "setup 3/4: flowspin (editable) with the dev, mcp and notebook extras (about a minute the first time)"
	@$(PY) -m pip install -q -e ".[dev,mcp,notebook]"
	@echo "setup 4/4: metaflow-card-notebook into $(CARD_NOTEBOOK) (off the venv's path)"
	@$(PY) -m pip install -q --no-deps --upgrade --target $(CARD_NOTEBOOK) "metaflow-card-notebook>=1.0.8,<2"
	@touch $(STAMP)
	@echo "setup: done"

# Node packages of the extension (esbuild, TypeScript, vscode-languageclient, playwright-core).
setup-node:
	bash scripts/setup-node.sh

# A real VS Code (code-server) and Debian's chromium for the end-to-end tests; cached in ~/.cache.
setup-e2e:
	bash scripts/setup-e2e.sh

extension: setup-node
	npm run --silent build

# ESLint (typescript-eslint, type-checked rules) for extension/**/*.ts: eslint.config.mjs.
lint: setup setup-node
	$(VENV)/bin/ruff check server tests benchmarks
	$(VENV)/bin/mypy
	$(PY) scripts/gen_protocol.py --check
	npm run --silent lint

# extension/protocol.ts from server/flowspin/protocol.py (tests/test_protocol.py fails until
# it is regenerated after a change to the protocol).
protocol: setup
	$(PY) scripts/gen_protocol.py

pytest: setup
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider --durations=20

# Day-to-day loop: no real VS Code, no Metaflow run, no spin worker (see the markers in
# pyproject.toml); `make test` stays the full suite.
test-fast: setup
	$(VENV)/bin/ruff check server tests benchmarks
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -m "not e2e and not metaflow" --durations=10

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) node_modules dist .flowspin
