PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# CrewAI pins pydantic<2.13 and mcp<2, which the main venv cannot hold: its tests get their own.
CREWAI_VENV ?= .venv-crewai
CREWAI_BIN := $(CREWAI_VENV)/bin

.PHONY: run test test-crewai bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

$(CREWAI_BIN)/python:
	$(PYTHON) -m venv $(CREWAI_VENV)
	echo '*' > $(CREWAI_VENV)/.gitignore
	$(CREWAI_BIN)/python -m pip install --upgrade --quiet pip

$(CREWAI_VENV)/.installed-crewai: pyproject.toml | $(CREWAI_BIN)/python
	$(CREWAI_BIN)/pip install --quiet -e ".[crewai,test-crewai]"
	touch $@

run: $(VENV)/.installed
	$(BIN)/fastagentic run examples/quickstart/app.py --host $(HOST) --port $(PORT)

# The main suite, then the CrewAI suite (whatever the main suite's result); fails if either fails.
test: $(VENV)/.installed-test
	@status=0; \
	echo "$(BIN)/python -m pytest $(PYTEST_ARGS)"; \
	$(BIN)/python -m pytest $(PYTEST_ARGS) || status=$$?; \
	$(MAKE) --no-print-directory test-crewai || status=1; \
	exit $$status

test-crewai: $(CREWAI_VENV)/.installed-crewai
	$(CREWAI_BIN)/python -m pytest tests_crewai $(CREWAI_PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/import_time.py
	$(BIN)/python bench/rest_overhead.py
	$(BIN)/python bench/governance.py
	$(BIN)/python bench/sse_throughput.py
	$(BIN)/python bench/mcp_tools_call.py
	$(BIN)/python bench/a2a_send.py
	$(BIN)/python bench/adapters.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/observability.py

clean:
	rm -rf $(VENV) $(CREWAI_VENV) .fastagentic .pytest_cache
