# Two commands do everything on a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION := 1

# llama-cpp-python builds llama.cpp from source. Left to itself it compiles for -march=native, which on a
# Xeon that reports AMX but whose VM cannot run AMX tiles crashes (SIGSEGV) at the first prompt of more
# than one token. So the CPU features are named: AVX2 and FMA, no AVX-512, no AMX. The wheel gets its own
# pip cache, so a wheel built earlier with other flags is never reused.
LLAMA_CPP := $(shell grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF
LLAMA_PIP_CACHE := $(HOME)/.cache/pip-llama-cpp-avx2

.PHONY: setup demo test lint typecheck unit bench clean

setup: $(VENV)/.installed

# torch is installed first and alone so that pip takes the CPU build from this machine's disk before
# anything else can pull a CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" PIP_CACHE_DIR=$(LLAMA_PIP_CACHE) $(BIN)/pip install --quiet '$(LLAMA_CPP)'
	$(BIN)/pip install --quiet -e '.[dev,tracing]'
	touch $@

demo: setup
	$(BIN)/ragfed demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

unit: setup
	$(BIN)/python -m pytest -m unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
