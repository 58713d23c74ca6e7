# Two commands do all the set-up on a fresh machine:
#   make run    install idmatch into .venv and start the service on the embedded defaults (SQLite);
#               a later run skips pip while pyproject.toml and constraints.txt are unchanged (stamp files)
#   make test   install idmatch with the test extras (+ Debian chromium) and run the whole test suite
PY ?= python3
VENV ?= .venv
PIP = $(VENV)/bin/pip
PIP_FLAGS = -q -c constraints.txt

.PHONY: install install-dev run test bench clean

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)

# The install is editable (-e): source changes need no reinstall, only the dependency files do. A stamp
# per extra remembers the last successful install; `make -B install` forces one.
STAMP_SERVICE = $(VENV)/.idmatch-installed-service
STAMP_DEV = $(VENV)/.idmatch-installed-dev

$(STAMP_SERVICE): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) install $(PIP_FLAGS) -e '.[service]'
	@touch $@

$(STAMP_DEV): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) install $(PIP_FLAGS) -e '.[dev]'
	@touch $@ $(STAMP_SERVICE)

install: $(STAMP_SERVICE)

install-dev: $(STAMP_DEV)
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null) \
	  || echo "warning: could not install Debian chromium; browser tests will be skipped"

run: install
	$(VENV)/bin/idmatch serve

test: install-dev
	$(VENV)/bin/python -m pytest -q

bench: install-dev
	$(PIP) install $(PIP_FLAGS) -e '.[bench]' && $(PIP) install -q --no-deps face_recognition==1.3.0
	cd benchmarks && ../$(VENV)/bin/python build_calibration.py && ../$(VENV)/bin/python verify_lfw.py

clean:
	rm -rf $(VENV) .pytest_cache reports/tmp
