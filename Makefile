# imdb-edge: every target sets up what it needs. `make all` is the main job, `make test`
# the test suite (what CI runs). Both create their own virtual environments.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VENV214 := .venv-tflite214
DATA ?= ../shared/data/aclImdb_v1.tar.gz
ARTIFACTS ?= artifacts
REPORT ?= reports/parity
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: all setup setup-tflite214 export parity bench train train-val test test-tflite214 test-wheel clean

# Main job: export every artifact from the committed reference model, then prove parity
# on all 25,000 test reviews and write the reports.
all: export parity

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(VENV)/bin/pip install $(PIP_FLAGS) -e ".[all]"
	touch $@

# tflite-runtime 2.14 (the last release) needs numpy < 2 and Python <= 3.11: its own venv.
$(VENV214)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV214)
	$(VENV214)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(VENV214)/bin/pip install $(PIP_FLAGS) -e ".[tflite,onnx,dev]"
	touch $@

setup: $(VENV)/.installed
setup-tflite214: $(VENV214)/.installed

export: setup
	$(VENV)/bin/imdb-edge export --format all --data $(DATA) --out $(ARTIFACTS)

parity: setup
	$(VENV)/bin/imdb-edge parity $(ARTIFACTS) --data $(DATA) --report $(REPORT)

bench: setup
	$(VENV)/bin/imdb-edge bench $(ARTIFACTS) --data $(DATA) --markdown benchmarks/latest.md --json benchmarks/latest.json

# The full reference schedule (about 40 minutes on 2 cores): faithful and honest modes.
train: setup
	$(VENV)/bin/imdb-edge train --select-on test --data $(DATA) --out runs/reference-test
train-val: setup
	$(VENV)/bin/imdb-edge train --select-on val --data $(DATA) --out runs/reference-val

# The whole suite in the main venv, then the runtime suite again under tflite-runtime 2.14
# with numpy 1.x (the Raspberry Pi guides' runtime), without the hostile-input tests
# (`-m hardening`), which the main run covers.
# This checkout's paths reach the library through the environment and flags only.
test: setup setup-tflite214
	IMDB_EDGE_TFLITE214_PYTHON=$(CURDIR)/$(VENV214)/bin/python $(VENV)/bin/python -m pytest -q
	$(MAKE) test-tflite214
	$(MAKE) test-wheel

test-tflite214: setup-tflite214
	$(VENV214)/bin/python -m pytest -q tests/runtime -m "not full and not hardening" -p no:cacheprovider

# The user's first command from the built wheel: [export] in a fresh venv outside the
# checkout exports with no flag and no network, then a [litert]-only venv scores the result.
test-wheel:
	PYTHON=$(PYTHON) scripts/check_wheel.sh

clean:
	rm -rf $(VENV) $(VENV214) build *.egg-info .pytest_cache
