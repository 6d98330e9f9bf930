# The study's two commands (see README.md):
#   make study    generate the default data if missing, execute the notebooks, build the book
#   make test     unit tests of fer_lib + nbval over the notebooks (smoke preset)
# make study PUBLISHED=real-cpu renders a published run's book (book/published/)
# offline, without data or execution.
# Both create the virtual environment .venv on first use.

PRESET ?= smoke
PUBLISHED ?=
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch comes from PyPI (its default build runs on CPU and GPU). A local
# CPU-only torch wheel must not be picked: PyPI's torchvision is built against
# the default torch and its operators (MTCNN's nms) fail to load with another.
unexport UV_FIND_LINKS

.PHONY: study book test test-fast env clean-runs baseline publish gpu-check

$(BIN)/fer-study: pyproject.toml overrides.txt
	$(PYTHON) -m pip install --quiet "uv>=0.4"
	$(PYTHON) -m uv venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(PYTHON) -m uv pip install --compile-bytecode --python $(BIN)/python --overrides overrides.txt -e ".[mtcnn]"
	touch $@

env: $(BIN)/fer-study  ## create or update the environment

study: env  ## run the whole study for PRESET (default smoke) and build its book (PUBLISHED=name: only render that published book)
ifeq ($(PUBLISHED),)
	$(BIN)/fer-study --preset $(PRESET)
else
	$(BIN)/fer-study --published $(PUBLISHED)
endif

book: env  ## rebuild the book of PRESET from its executed notebooks
	$(BIN)/fer-study --preset $(PRESET) --book-only

test: env  ## unit tests + notebooks (nbval, smoke preset)
	$(BIN)/python -m pytest tests notebooks --nbval-lax -p no:cacheprovider

test-fast: env  ## unit tests only
	$(BIN)/python -m pytest tests -p no:cacheprovider

publish: env  ## copy the finished run of PRESET to book/published/PRESET and regenerate the README's results block
	$(BIN)/fer-study --preset $(PRESET) --publish

gpu-check: env  ## exercise every CUDA-only branch and time two epochs of the full recipe (minutes on a GPU; on a CPU use the smoke test)
	$(BIN)/python -m fer_lib.train.gpu_check --data-dir auto --json runs/gpu-check.json

clean-runs:  ## delete all run folders
	rm -rf runs

baseline: env  ## run the smoke study and store its outputs in notebooks/*.ipynb as nbval's reference
	$(BIN)/fer-study --preset smoke --no-book
	$(BIN)/fer-study --preset smoke --store-baseline
