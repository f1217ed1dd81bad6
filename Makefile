# smokewatch — two commands on a fresh machine:
#   make demo   set up .venv and run the main job on the embedded default
#   make test   set up .venv and run the whole test suite
# Everything else here is what those two need.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXTRAS ?= ml,web,dev,analysis,ray,watch
RISE   ?= ../shared/rise

# On CPU-only Linux (x86_64), install the local CPU build of torch first, so the [ml] extra's
# range is already satisfied and pip never pulls a multi-GB CUDA build.
CPU_ONLY_LINUX := $(shell [ "$$(uname -s)" = Linux ] && [ "$$(uname -m)" = x86_64 ] && ! command -v nvidia-smi >/dev/null 2>&1 && echo yes)

.PHONY: setup demo test check services browser rise-frontend-libs fetch-frontend-libs \
        clean rise-models rise-cv rise-cv-gpu rise-cv-plain

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifeq ($(CPU_ONLY_LINUX),yes)
	$(BIN)/python -m pip install --quiet torch==2.13.0
endif
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $(STAMP)

demo: setup
	$(BIN)/smokewatch demo --rise-dir $(RISE) --out out/demo

# Real services for the tests: PostgreSQL must be up (started here if it is down).
services:
	@if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
	  echo "starting PostgreSQL"; \
	  for v in $$(ls /etc/postgresql 2>/dev/null); do pg_ctlcluster --skip-systemctl-redirect $$v main start || true; done; \
	fi

# The browser tests drive Debian's Chromium (never a downloaded browser): install it with apt
# when it is missing and we may; otherwise say so (the browser tests then fail, naming it).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get)"; \
	    apt-get install -y -qq chromium >/dev/null 2>&1 || \
	      { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
	      echo "warning: could not install chromium; the browser tests (tests/web) will fail"; \
	  else \
	    echo "warning: $(CHROMIUM) is missing; install Debian's chromium (apt-get install chromium)" \
	         "or the browser tests (tests/web) will fail"; \
	  fi; \
	fi

# The house rules, checked before any test runs: lint, format, strict types (mypy's files are
# set in pyproject.toml). The layering contracts run inside pytest (tests/test_layering.py).
check: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The original RISE front end loads jQuery 3.3.1 and jQuery UI 1.12.1 from a CDN; its browser
# test (tests/web/test_original_frontend.py) serves them from here instead, fetched once from
# the npm registry (both MIT licensed; the licenses are kept next to them).
FRONTEND_LIBS := out/test-vendor
rise-frontend-libs: $(FRONTEND_LIBS)/jquery.min.js
$(FRONTEND_LIBS)/jquery.min.js:
	@command -v npm >/dev/null 2>&1 || { echo "warning: npm is missing, so jQuery cannot be" \
	  "fetched; tests/web/test_original_frontend.py will fail"; exit 0; }; \
	  $(MAKE) --no-print-directory fetch-frontend-libs || \
	  echo "warning: could not fetch jQuery; tests/web/test_original_frontend.py will fail"

fetch-frontend-libs:
	@mkdir -p $(FRONTEND_LIBS)/pack
	cd $(FRONTEND_LIBS)/pack && npm pack --silent jquery@3.3.1 jquery-ui-dist@1.12.1 >/dev/null
	cd $(FRONTEND_LIBS)/pack && tar xzf jquery-3.3.1.tgz package/dist/jquery.min.js package/LICENSE.txt && \
	  mv package/dist/jquery.min.js .. && mv package/LICENSE.txt ../jquery.LICENSE.txt && rm -rf package
	cd $(FRONTEND_LIBS)/pack && tar xzf jquery-ui-dist-1.12.1.tgz && \
	  mv package/jquery-ui.min.js package/jquery-ui.min.css package/LICENSE.txt .. && \
	  mv ../LICENSE.txt ../jquery-ui.LICENSE.txt && rm -rf package
	rm -rf $(FRONTEND_LIBS)/pack

test: setup check services browser rise-frontend-libs
	$(BIN)/python -m pytest

# The project's models for real clips: both trained on all 709 real RISE clips in $(RISE)/clips
# (the same presets the 5-fold cross-validation below scores). Re-running resumes or skips.
# models/rise-hard-svm: SVM on Kinetics I3D features (36 frames at 180^2);
# models/rise-hard-i3d: I3D fine-tuned from Kinetics (preset cpu-small). Check them on clips
# they never saw with: smokewatch evaluate models/rise-hard-i3d --clips DIR --labels CSV --out DIR
RISE_CLIPS = --labels $(RISE)/clips.csv --clips $(RISE)/clips --cache-dir out/cache --threads 2
rise-models: setup
	$(BIN)/smokewatch train --preset rgb-svm --set size=180 $(RISE_CLIPS) --out models/rise-hard-svm
	$(BIN)/smokewatch train --preset cpu-small $(RISE_CLIPS) --out models/rise-hard-i3d \
	  $$(test -f models/rise-hard-i3d/last.pt && echo --resume)
	$(BIN)/smokewatch train --preset rise-best $(RISE_CLIPS) --scene-groups splits --out models/rise-best
	$(BIN)/smokewatch train --preset rise-fast $(RISE_CLIPS) --scene-groups splits --out models/rise-fast

# Nested 5-fold cross-validation on the 709 clips (every choice inside the training folds;
# clips that look alike kept in one fold), rise-best and rise-fast next to RGB-SVM and RISE's
# own RGB-TC predictions: tables in out/rise-cv (seconds once out/cache holds the features).
rise-cv: setup
	$(BIN)/smokewatch experiments cv rise-best rise-fast rgb-svm --set size=180 --folds 5 \
	  $(RISE_CLIPS) --nested --scene-groups splits --score-column rgb_tc_pred \
	  --out out/rise-cv

# The same nested CV (same seed, same grouped folds) of rise-gpu, the whole I3D fine-tuned once
# per outer fold with its checkpoint and threshold chosen on a hold-out of the fold's scenes:
# a GPU's work (hours per fold on a CPU). Compare its per-fold rows with rise-best's.
rise-cv-gpu: setup
	$(BIN)/smokewatch experiments cv rise-gpu --folds 5 --labels $(RISE)/clips.csv \
	  --clips $(RISE)/clips --cache-dir out/cache --nested --scene-groups splits \
	  --score-column rgb_tc_pred --device cuda --out out/rise-cv-gpu

# Plain 5-fold CV of the two older CPU presets (cpu-small fine-tunes in every fold: ~80 min).
rise-cv-plain: setup
	$(BIN)/smokewatch experiments cv rgb-svm cpu-small --set size=180 --folds 5 $(RISE_CLIPS) \
	  --score-column rgb_tc_pred \
	  --out out/rise-cv-plain

clean:
	rm -rf $(VENV) out .pytest_cache
