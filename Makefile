# Two entry points (see README): `make repro` and `make test`. Both build .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: repro test profile-% smoke-% bench clean-venv

$(VENV)/.installed: requirements.lock pyproject.toml
	python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --upgrade pip
	# torch first and pinned: an unpinned torch pulls gigabytes of CUDA wheels.
	$(PIP) install torch==2.13.0
	$(PIP) install -r requirements.lock
	$(PIP) install --no-deps -e .
	touch $@

# Stage commands call `python`: run them with the venv first on PATH.
RUN := PATH="$(CURDIR)/$(VENV)/bin:$$PATH"

repro: $(VENV)/.installed
	$(RUN) dvc repro

# two workers (pytest-xdist), one per core: the end-to-end file on one, the unit tests on the
# other; a whole file stays on one worker (its fixtures are shared)
TEST_WORKERS ?= 2
test: $(VENV)/.installed chromium
	$(RUN) pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# the report's browser test renders pages in Debian's headless chromium
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; fi; }

# make profile-ci | profile-default | profile-gpu : validate profiles/<name>.yaml, copy it to params.yaml
profile-%: $(VENV)/.installed
	$(PY) -m dictlearn.profile $*

# make smoke-gpu: profiles/gpu.yaml at its real shapes, every count shrunk to a few, `dvc repro`
# in a fresh repository at SMOKE_DIR (a shape, memory or config error shows here, not on the GPU)
SMOKE_DIR ?= $(CURDIR)/.smoke
smoke-%: $(VENV)/.installed
	rm -rf $(SMOKE_DIR)/$*
	$(RUN) python -m dictlearn.params.smoke $* $(SMOKE_DIR)/$*

# make bench: every bench/ script on a quiet machine (each refuses, exit 2, when the load average
# exceeds the core count), then the README's tables re-rendered from metrics/bench/*.json. Each
# peer is read from a checkout you give; one not given is reported and recorded as skipped:
#   NANOGPT=<checkout of karpathy/nanoGPT>   CULTURE_REFERENCE=<culture/ folder holding grids.py>
#   TOY_REFERENCE=<checkout of adamjermyn/toy_model_interpretability>
# SAELens runs from its own venv (dictlearn.saelens_env; skipped, with the command, if not built)
bench: $(VENV)/.installed
	$(RUN) python bench/train_lm.py $(if $(NANOGPT),--nanogpt $(NANOGPT)) $(if $(wildcard data/prepared/text),--quality data/prepared/text)
	$(RUN) python bench/cache_acts.py
	$(RUN) python bench/culture_gen.py $(if $(CULTURE_REFERENCE),--reference $(CULTURE_REFERENCE))
	$(RUN) python bench/sae_train.py
	$(RUN) python bench/toy_sweep.py $(if $(TOY_REFERENCE),--authors $(TOY_REFERENCE))
	$(RUN) python bench/ci_repro.py
	$(RUN) python -m dictlearn.results

clean-venv:
	rm -rf $(VENV)
