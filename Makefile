# gankit: the two quick-start commands are `make quickstart` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
# Elsewhere use e.g. TORCH="torch --index-url https://download.pytorch.org/whl/cpu".
TORCH ?= torch==2.13.0
RUN ?= runs/quickstart
# The quick start assumes an idle machine: two threads train the small DCGAN faster than one
# (gankit picks one thread on machines of two cores or fewer, which are usually shared).
THREADS ?= 2

.PHONY: install browser quickstart test test-slow hostile clean-venv

$(BIN)/gankit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/gankit

# Set up, get Fashion-MNIST (Debian's dataset-fashion-mnist package where apt works, else
# gankit downloads it with checksums), train the default GAN, write samples and the export.
quickstart: install
	@$(BIN)/gankit data info fashion-mnist >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || true
	$(BIN)/gankit train fashion-mnist-dcgan train.threads=$(THREADS) --out $(RUN) --resume auto
	$(BIN)/gankit sample $(RUN) --seeds 0-63 --out $(RUN)/samples.png
	@echo "samples: $(RUN)/samples.png   exported generator: $(RUN)/export/"

# Headless Chromium for the studio's browser tests (Debian's package; Playwright drives it and
# never downloads a browser). Without root/apt the browser tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get update -q >/dev/null 2>&1; apt-get install -y -q chromium >/dev/null 2>&1; }; } || \
	  echo "note: chromium could not be installed; browser tests will skip"

# The experiment trackers' clients (tensorboard, wandb, mlflow-skinny: about 270 MB), for their
# tests only: training needs none of them, so the quick start does not install them.
$(VENV)/.trackers: $(BIN)/gankit
	$(BIN)/pip install -q -e '.[trackers]'
	@touch $@

test: install browser $(VENV)/.trackers
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

# The hostile-input corpus (issue 17): cases tried and passed, by group (--slow: with the soak)
hostile: install
	$(BIN)/python tests/reliability/corpus.py

clean-venv:
	rm -rf $(VENV)
