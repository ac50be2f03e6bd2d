# Everything a fresh machine needs, from the project's own files.
#   make demo   set up, then run the simulator on the one-by-one clip and write its report
#   make test   set up, then run the linter and the whole test suite
#   make test-load  the load tests (1,000 fake stops; several minutes): before a release
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
SHARED ?= ../shared
REPORT ?= reports
BIN := $(VENV)/bin
APT_PACKAGES := mosquitto systemd openssl postgresql chromium prometheus

.PHONY: setup system-packages models demo test load test-load test-hostile test-slow soak ha-check \
	lint clean \
	arm64 arm64-jetpack onnx-compare

$(BIN)/stopsafe: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/stopsafe

# Debian packages the tests need (a real MQTT broker; systemd-analyze and systemd-sysusers for
# the installer tests; openssl for the TLS test's CA; a PostgreSQL server, which the history tests
# start as their own cluster; Chromium for the installer's page's browser test, driven by
# Playwright's Python client, never a browser of Playwright's own; Prometheus, which the
# metrics test starts on loopback to scrape the stop); installs only what is missing.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi

models: setup
	$(BIN)/stopsafe models fetch --from $(SHARED)/models

demo: setup models
	$(BIN)/stopsafe sim $(SHARED)/clips/one-by-one/scenario.yaml --report $(REPORT)

# ruff, and the import contract of the layers (.importlinter: no upward import, no cycle,
# the box apart from fleet/ and sim/)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: setup system-packages models lint
	STOPSAFE_SHARED=$(SHARED) $(BIN)/python -m pytest -q

# the tests marked `load` (excluded from `make test`; they print their figures): fleet-sim
# with 1,000 stops and the console, Home Assistant's re-announce over 1,000 stops, and two
# history collectors on SQLite and on PostgreSQL with a kill -9
load: setup system-packages models
	STOPSAFE_SHARED=$(SHARED) $(BIN)/python -m pytest -q -s -m load

test-load: load

# a stop against a real Home Assistant, installed in a venv of its own (it needs Python 3.13):
#   make ha-check HASS=/opt/ha/bin/hass
ha-check: setup system-packages
	STOPSAFE_HASS=$(HASS) $(BIN)/python -m pytest -q -m homeassistant

# The long hostile-world runs (issue 12): 24 kill -9s of the daemon with the broker going down
# and up, its peak memory under 50 MB payloads (MQTT 5 and 3.1.1), and a 30 s broker outage in a
# realtime run of the one-by-one clip. About 7 minutes; run them after touching the outbox, the
# MQTT link or the daemon's start and stop.
test-hostile: setup system-packages models lint
	STOPSAFE_SHARED=$(SHARED) $(BIN)/python -m pytest -q -s -m hostile tests/

# Whole-clip checks that take minutes (issue 25: the own light on every shared clip, the
# 13-minute hydrant-on-a-street case): not in make test.
test-slow: setup models
	STOPSAFE_SHARED=$(SHARED) $(BIN)/python -m pytest -q -m slow tests/

# The simulator on arm64 under emulation against the same run here (issue 13): a Debian bookworm
# arm64 root (debootstrap + qemu-user-static, as root), cached in /var/cache/stopsafe/arm64-root;
# prints both runs' scores side by side and fails when they differ. KERNELS=xnnpack|builtin|reference is
# detector.kernels on both sides. About 3 min to make the root, 2 min to install, then the runs.
# .ci/run runs it with ARM64_FLAGS=--skip-if-cannot-emulate (a host without binfmt_misc skips it).
KERNELS ?= reference
ARM64_FLAGS ?=
arm64: setup models
	$(BIN)/python tools/arm64_check.py --shared $(SHARED) --kernels $(KERNELS) $(ARM64_FLAGS)

# The whole pinned dependency set for a Jetson (JetPack 6: Python 3.10, aarch64), wheels only.
arm64-jetpack: setup
	$(BIN)/python tools/arm64_check.py --jetpack

# yolox_onnx against yolox (LiteRT) on four clips, same settings, side by side (several minutes)
onnx-compare: setup models
	STOPSAFE_SHARED=$(SHARED) $(BIN)/python tools/onnx_compare.py

# the 20-minute soak (marker `soak`): the whole daemon looping a clip with MQTT connected,
# memory, descriptors and threads at the end; before a release
soak: setup system-packages models
	STOPSAFE_SHARED=$(SHARED) $(BIN)/python -m pytest -q -s -m soak tests/

clean:
	rm -rf $(VENV) reports .pytest_cache
