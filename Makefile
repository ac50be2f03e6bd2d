# Everything a fresh machine needs, from the project's own files.
#   make demo   set up, then run the simulator on the one-by-one clip and write its report
#   make test   set up, then run the linter and the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
SHARED ?= ../shared
REPORT ?= reports/one-by-one
BIN := $(VENV)/bin
APT_PACKAGES := mosquitto systemd openssl

.PHONY: setup system-packages models demo test test-hostile lint clean

$(BIN)/stopsafe: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/stopsafe

# Debian packages the tests need (a real MQTT broker; systemd-analyze and systemd-sysusers for
# the installer tests); installs only what is missing.
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

lint: setup
	$(BIN)/ruff check .

test: setup system-packages models lint
	STOPSAFE_SHARED=$(SHARED) $(BIN)/python -m pytest -q

# The long hostile-world runs (issue 12): 24 kill -9s of the daemon with the broker going down
# and up, and its peak memory under 50 MB payloads (MQTT 5 and 3.1.1). A few minutes; run them
# after touching the outbox, the MQTT link or the daemon's start and stop.
test-hostile: setup system-packages models lint
	STOPSAFE_SHARED=$(SHARED) $(BIN)/python -m pytest -q -s -m hostile tests/

clean:
	rm -rf $(VENV) reports .pytest_cache
