# Patch Balancer: `make` sets everything up and runs the demo; `make test` runs every test.
SYSTEM_PYTHON := /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: all setup demo test test-core bench model package check-package clean

all: demo

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt constraints.txt scripts/install-system-packages
	scripts/install-system-packages
	$(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV)
	$(PIP_INSTALL) -r requirements.txt
	$(PY) -c "import qgis.core, rasterio, sklearn, numpy, torch, transformers, pyarrow, hnswlib, distributed; assert numpy.__version__ < '2'"
	touch $@

demo: setup
	$(PY) scripts/demo.py --out demo_output

test: setup
	$(PY) -m pytest

test-core: setup
	$(PY) -m pytest tests/core -p no:pytest_qgis -W ignore::pytest.PytestConfigWarning

bench: setup
	$(PY) bench/bench_mask_stats.py
	$(PY) bench/bench_embeddings.py
	$(PY) bench/bench_uniqueness.py
	$(PY) bench/bench_class_balance_dock.py
	$(PY) bench/bench_balance.py
	$(PY) bench/bench_plan.py
	$(PY) bench/bench_split.py
	$(PY) bench/bench_writes.py
	$(PY) bench/bench_scale.py

model: setup
	$(PY) scripts/make_model.py

# The plugin ZIP for the QGIS plugin repository / Install from ZIP: dist/patch_balancer-<version>.zip
package:
	$(SYSTEM_PYTHON) scripts/package.py --out dist

# The ZIP against the plugin repository's rules, and Bandit on it (also run by `make test`)
check-package: setup package
	$(PY) scripts/check_package.py dist/patch_balancer-$$($(SYSTEM_PYTHON) -c "import sys; sys.path.insert(0, 'scripts'); import package; print(package.version())").zip

clean:
	rm -rf $(VENV) .qgis demo_output test_output .pytest_cache .hypothesis dist
