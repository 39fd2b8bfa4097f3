# The two commands of the README: `make demo` and `make test`. Each creates .venv and installs
# what it needs, so both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP_TEST := $(VENV)/.installed-test
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_BROWSER := $(VENV)/.installed-browser
STAMP_RAY := $(VENV)/.installed-ray
STAMP_ML := $(VENV)/.installed-ml
#: The tutorial that trains real models (extra test-ml): run by make test-ml only.
ML_TUTORIAL := notebooks/12_training_a_real_detector.ipynb

.PHONY: demo test test-ray test-ml lint typecheck notebooks notebooks-ml test-browser update-screenshot bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[test]'
	touch $@

$(STAMP_DEMO): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[docs]'
	touch $@

$(STAMP_RAY): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[test-ray]'
	touch $@

# torch, torchvision, Ultralytics, Lightning, Keras and Ray: several GB, minutes to install.
$(STAMP_ML): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[test-ml]'
	touch $@

$(STAMP_BROWSER): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[test,browser,ray]'  # Run All covers tutorial 10 (Ray)
	touch $@

## make demo: the main job on the embedded defaults, in the terminal; tutorials as HTML in build/
# Its dataset, model and run go to a temporary store; DEMO_ARGS=--real-store keeps them in yours.
demo: $(STAMP_DEMO)
	$(BIN)/python -m synapse_steps.demo $(DEMO_ARGS)
	$(BIN)/python tools/build_docs.py --output build

## make test: lint, types, unit/property/integration tests and the notebooks (nbval)
# The tutorials keep real times (masked by notebooks/sanitize.cfg) and the unit tests check real
# durations, so deterministic output stays off here even where CI=true would turn it on.
test: $(STAMP_TEST) lint typecheck
	SYNAPSE_STEPS_DETERMINISTIC=0 $(BIN)/python -m pytest -q -p no:cacheprovider -m "not browser and not ray and not ml" tests notebooks \
		--nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
		--nbval-cell-timeout=300 --ignore-glob='tests/browser/*.ipynb' \
		--ignore=tests/ray --ignore=notebooks/10_scaling_out_with_ray.ipynb \
		--ignore=tests/ml --ignore=$(ML_TUTORIAL)

## make test-ray: the Ray executor against a local Ray cluster the tests start, the executor
## matrix on local Ray and on a two-node cluster (ray start on loopback), and its tutorial
# Deterministic output off, as in make test: the tutorial keeps real times (masked by sanitize.cfg).
# The matrix runs in its own pytest process: it connects to two different Rays in turn.
test-ray: $(STAMP_RAY)
	SYNAPSE_STEPS_DETERMINISTIC=0 RAY_DISABLE_USAGE_STATS=1 $(BIN)/python -m pytest -q \
		-p no:cacheprovider -m ray tests/ray --timeout=600
	SYNAPSE_STEPS_DETERMINISTIC=0 RAY_DISABLE_USAGE_STATS=1 $(BIN)/python -m pytest -q \
		-p no:cacheprovider -m ray tests/matrix --timeout=600
	SYNAPSE_STEPS_DETERMINISTIC=0 RAY_DISABLE_USAGE_STATS=1 $(BIN)/python -m pytest -q -p no:cacheprovider --nbval \
		--nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
		--nbval-cell-timeout=300 notebooks/10_scaling_out_with_ray.ipynb

## make test-ml: real trainings (Ultralytics YOLO, Lightning, Keras) on the CPU, and their tutorial
# Deterministic output off, as in make test: the tutorial keeps real times (masked by sanitize.cfg).
test-ml: $(STAMP_ML)
	SYNAPSE_STEPS_DETERMINISTIC=0 RAY_DISABLE_USAGE_STATS=1 KERAS_BACKEND=torch $(BIN)/python -m pytest -q \
		-p no:cacheprovider -m ml tests/ml --timeout=900
	SYNAPSE_STEPS_DETERMINISTIC=0 KERAS_BACKEND=torch $(BIN)/python -m pytest -q -p no:cacheprovider --nbval \
		--nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
		--nbval-cell-timeout=600 $(ML_TUTORIAL)

lint: $(STAMP_TEST)
	$(BIN)/ruff check synapse_steps tests benchmarks tools
	$(BIN)/ruff format --check synapse_steps tests benchmarks tools

typecheck: $(STAMP_TEST)
	$(BIN)/mypy

## make notebooks: re-execute every tutorial in place (commit the result); notebooks-ml: tutorial 12
notebooks: $(STAMP_TEST)
	$(BIN)/python tools/run_notebooks.py $(filter-out $(ML_TUTORIAL),$(wildcard notebooks/*.ipynb)) \
		tests/notebooks/*.ipynb

notebooks-ml: $(STAMP_ML)
	KERAS_BACKEND=torch $(BIN)/python tools/run_notebooks.py $(ML_TUTORIAL)

## make test-browser: JupyterLab and Notebook 7 + headless Debian Chromium driven by Playwright
test-browser: $(STAMP_BROWSER)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	SYNAPSE_STEPS_DETERMINISTIC=0 $(BIN)/python -m pytest -q -p no:cacheprovider -m browser tests/browser

## make update-screenshot: the browser test, also refreshing the screenshots in docs/images/
update-screenshot:
	SYNAPSE_STEPS_UPDATE_SCREENSHOT=1 $(MAKE) test-browser

bench: $(STAMP_TEST)
	$(PIP) install --quiet -e '.[bench,ray]'
	$(BIN)/python benchmarks/orchestrator_overhead.py
	$(BIN)/python benchmarks/journal_orchestrator.py
	$(BIN)/python benchmarks/notebook_overhead.py
	$(BIN)/python benchmarks/convert_throughput.py
	$(BIN)/python benchmarks/ray_sweep.py

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
