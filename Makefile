# Every target installs what it needs first; running one twice does no work twice.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install chat ask ingest eval test test-fast browser ocr lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: it comes from this machine's disk as a CPU build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[ui,llm,serve,eval,test]"
	# Export the embedding model to ONNX now (once per model), not on the first question.
	$(BIN)/python -c "from rag.embedding import Embedder; Embedder().warm_up()"
	touch $(STAMP)

install: $(STAMP)

chat: install
	$(BIN)/rag chat

ask: install
	$(BIN)/rag ask "$(or $(Q),When was the Bicentennial Framework launched?)"

ingest: install
	$(BIN)/rag ingest

eval: install
	$(BIN)/rag eval --out eval/out

# Chromium from Debian's packages drives the browser tests (never `playwright install`).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

# Tesseract from Debian's packages reads scanned PDF pages (English; add tesseract-ocr-LANG).
ocr:
	@test -x /usr/bin/tesseract || (apt-get update -qq && apt-get install -y -qq tesseract-ocr)

# Everything: unit, end-to-end CLI, servers, crash and load tests, the real browser. CI runs this.
test: install browser ocr
	$(BIN)/python -m pytest -q

# The edit-test loop: no test marked slow (subprocess CLIs, servers, kills, exports) or browser.
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not browser"

lint: install
	$(BIN)/ruff check rag ui eval tests bench
	$(BIN)/ruff format --check rag ui eval tests bench

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf .rag test-output eval/out
