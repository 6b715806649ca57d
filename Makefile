# The two commands of the README: `make reproduce` and `make test`.
PY       ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
JOBS     ?= auto
# where `make reproduce` writes its run records: not the committed data/results (the book's source), so that
# reproducing leaves the clone as it was; `make reproduce RESULTS=data/results` regenerates the committed ones
RESULTS  ?= data/reproduced
BOOK     := HF_HUB_OFFLINE=1 PATH=$(abspath $(BIN)):$$PATH $(BIN)/jupyter-book build

.PHONY: reproduce test install book book-check linkcheck screenshots clean

# pip >= 25 shows build-backend warnings even with --quiet; setuptools writes one on every editable install
# ("Editable installation. Please be careful with folders ... same name as your package"): filtered by its text.
# -qq: pip's own output down to errors (a machine's index configuration can add a warning line per package)
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet --quiet -e ".[book,test,cluster]"
	$(BIN)/python -m compileall -q $(VENV)/lib > /dev/null 2>&1 || true
	touch $(STAMP)

install: $(STAMP)

## the main job on the embedded default: the Study B and Study A smoke batches on the synthetic data, the table, the book
## (records to $(RESULTS), compared with the committed ones; the book shows the committed records)
reproduce: $(STAMP)
	$(BIN)/imlib batch --study b --preset smoke --jobs $(JOBS) --rerun-older --results-dir $(RESULTS)
	$(BIN)/imlib table --study b --preset smoke --results-dir $(RESULTS)
	$(BIN)/imlib batch --study a --preset smoke --jobs $(JOBS) --rerun-older --results-dir $(RESULTS)
	$(MAKE) --no-print-directory book
	@[ "$(RESULTS)" = data/results ] || $(BIN)/python -m imlib.reproduce $(RESULTS) data/results

## the test suite (fails when a test fails or none ran)
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

## the book, strictly: any warning or failing notebook fails the build (execution is cached); then every image
## must have alt text. MathJax comes from the pip package sphinx-mathjax-offline (the math renders offline).
book: $(STAMP)
	$(BOOK) -q -W -n --keep-going .
	$(MAKE) --no-print-directory book-check

## every <img> of the built pages has alt text (names page and image otherwise)
book-check:
	$(BIN)/python -m imlib.bookcheck alt-text _build/html

## the links: internal references and anchors are checked by the strict build (make book); this checks the
## external URLs, offline-tolerant (unreachable without a network: reported as unchecked, not as broken)
## (Sphinx's linkcheck exits 1 for any unreachable URL, offline too: its output.json decides; log in _build/linkcheck.log)
linkcheck: $(STAMP)
	mkdir -p _build && rm -f _build/linkcheck/_build/html/output.json
	$(BOOK) --builder linkcheck --path-output _build/linkcheck . > _build/linkcheck.log 2>&1 || true
	$(BIN)/python -m imlib.bookcheck links _build/linkcheck/_build/html/output.json

## headless screenshots of every page at 1280 px, 9000 px tall (needs Debian's chromium; not part of CI)
screenshots:
	command -v chromium > /dev/null || (apt-get update -qq && apt-get install -y -qq chromium > /dev/null)
	mkdir -p _build/screenshots
	for page in $$(cd _build/html && ls book/*.html notebooks/*.html); do \
	  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
	    --disable-component-update --disable-sync --user-data-dir=$$(mktemp -d) --hide-scrollbars \
	    --virtual-time-budget=4000 --window-size=1280,9000 \
	    --screenshot=_build/screenshots/$$(echo $$page | tr / _ | sed 's/.html$$//').png \
	    file://$(abspath _build/html)/$$page 2>/dev/null; \
	done
	ls -l _build/screenshots

clean:
	rm -rf data/work data/reproduced _build
