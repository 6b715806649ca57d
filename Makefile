# The two commands of the README: `make reproduce` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: reproduce test install smoke table clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m compileall -q $(VENV)/lib > /dev/null 2>&1 || true
	touch $(STAMP)

install: $(STAMP)

## the main job on the embedded default: the Study B smoke grid on the synthetic tasks, then the table
reproduce: $(STAMP)
	$(BIN)/imlib batch --study b --preset smoke
	$(BIN)/imlib table --study b --preset smoke

## the test suite (fails when a test fails or none ran)
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

clean:
	rm -rf data/work _build
