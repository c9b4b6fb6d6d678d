# Two commands for a fresh machine: `make demo` and `make test`. Each installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# A pinned torch: an unpinned one pulls several GB of CUDA packages on a CPU machine.
TORCH  ?= torch==2.13.0
CORE   := $(VENV)/.core
DEV    := $(VENV)/.dev

# Real FashionMNIST for the tests, from Debian's package (no network needed beyond the mirror).
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: install demo test lint bench gpu-check clean

SITE    = $$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")

# One pip run, without compiling bytecode: that would take pip about a minute on 2 cores, while the
# demo's single process compiles only what it imports.
$(CORE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-compile "$(TORCH)" -e .
	touch $(CORE)

# The tests start many Python processes (CLI, NNI trials, Ray workers), each importing torch: compile
# everything once, on all cores. (A file written for a newer Python, e.g. torch's py312_intrinsics.py,
# cannot compile here; pip's own compile skips it too, hence the `|| true`.)
$(DEV): $(CORE)
	$(PY) -m pip install -q --no-compile -e ".[dev,nni,ray]"
	$(PY) -m compileall -q -j 0 "$(SITE)" >/dev/null 2>&1 || true
	touch $(DEV)

install: $(DEV)

demo: $(CORE)
	$(VENV)/bin/proxynas demo

$(FASHION):
	apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) || \
	  echo "warning: could not install dataset-fashion-mnist; the FashionMNIST tests will say so"

test: $(DEV) $(FASHION)
	$(PY) -m pytest -q

# On a GPU machine: every CUDA path, the invariant on CUDA and a short search benchmark (< 10 min).
# It runs with the Python that holds a CUDA build of torch (GPU_PYTHON), not the CPU venv.
GPU_PYTHON ?= python3
gpu-check:
	PYTHONPATH=$(CURDIR) $(GPU_PYTHON) benchmarks/gpu_check.py

lint: $(DEV)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
