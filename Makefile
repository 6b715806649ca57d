# The two commands of the README: `make reproduce` and `make test`.
PY       ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
MATHJAX  := 3.2.2
MJ       := _mathjax/mathjax/tex-chtml.js
JOBS     ?= auto

.PHONY: reproduce test install batch table book book-check screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	$(BIN)/python -m compileall -q $(VENV)/lib > /dev/null 2>&1 || true
	touch $(STAMP)

install: $(STAMP)

## the main job on the embedded default: the Study B and Study A smoke batches on the synthetic data, the table, the book
reproduce: $(STAMP)
	$(BIN)/imlib batch --study b --preset smoke --jobs $(JOBS) --rerun-older
	$(BIN)/imlib table --study b --preset smoke
	$(BIN)/imlib batch --study a --preset smoke --jobs $(JOBS) --rerun-older
	$(MAKE) book

## the test suite (fails when a test fails or none ran)
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# MathJax served from the book itself, so that the math renders offline (downloaded once from npm)
$(MJ):
	rm -rf _mathjax.tmp && mkdir -p _mathjax.tmp
	cd _mathjax.tmp && npm pack --silent mathjax@$(MATHJAX) > /dev/null \
	  || { echo "error: could not fetch mathjax@$(MATHJAX) from the npm registry (offline?)" >&2; exit 1; }
	tar -xzf _mathjax.tmp/mathjax-$(MATHJAX).tgz -C _mathjax.tmp
	mkdir -p _mathjax && rm -rf _mathjax/mathjax && mv _mathjax.tmp/package/es5 _mathjax/mathjax && rm -rf _mathjax.tmp

## the book, strictly: any warning or failing notebook fails the build (execution is cached)
book: $(STAMP) $(MJ)
	HF_HUB_OFFLINE=1 PATH=$(abspath $(BIN)):$$PATH $(BIN)/jupyter-book build -W -n --keep-going .

## headless screenshots of a few pages (needs Debian's chromium; not part of CI)
screenshots:
	command -v chromium > /dev/null || (apt-get update -qq && apt-get install -y -qq chromium > /dev/null)
	mkdir -p _build/screenshots
	for page in book/intro notebooks/study_b notebooks/im_creation notebooks/generations; do \
	  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
	    --disable-component-update --disable-sync --user-data-dir=$$(mktemp -d) --hide-scrollbars \
	    --virtual-time-budget=4000 --window-size=1280,1600 \
	    --screenshot=_build/screenshots/$$(basename $$page).png file://$(abspath _build/html)/$$page.html 2>/dev/null; \
	done
	ls -l _build/screenshots

clean:
	rm -rf data/work _build _mathjax
