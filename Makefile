# From Pixels to LeNet: setup, lab, tests, release and grading.
# Two commands do all the setup on a fresh clone: `make lab` (students) and `make test`.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUBMISSIONS ?=
OUT    ?= grading-output
PORT   ?= 8888

export TF_CPP_MIN_LOG_LEVEL := 2

# Jupyter refuses to run as root unless told so explicitly.
ifeq ($(shell id -u),0)
ALLOW_ROOT := --allow-root
endif

.PHONY: help setup venv data lab test test-deps doctor release grade check solutions clean hub

help:
	@echo "make lab          set up (.venv, requirements, data) and open JupyterLab on lessons/"
	@echo "make test         set up (as make lab, plus chromium, PostgreSQL and the hub's proxy) and run the whole test suite (fast mode)"
	@echo "make data         make Fashion-MNIST available offline (Debian package + Keras cache)"
	@echo "make doctor       check this machine: versions, data, CPU/GPU, mode, and how to fix what is missing"
	@echo "make release      regenerate lessons/ from solutions/ (nbgrader generate_assignment)"
	@echo "make grade SUBMISSIONS=dir [OUT=grading-output]   autograde a folder of submissions"
	@echo "make check NB=lessons/01_pixels/01_pixels.ipynb   run a notebook's visible tests"
	@echo "make solutions    maintainers: re-execute solutions/ in place (fast mode) before committing"
	@echo "make hub [ROSTER=roster.csv INSTRUCTOR=name]   as root: a class on JupyterHub on this machine (docs/hub.md)"

setup: venv data

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@# Students see nbgrader's Validate button and assignment list; the instructor tools stay off.
	@# Validate in JupyterLab runs every cell: give training cells the grader's 600 s, not nbgrader's 30 s.
	@# The same step as the README's install without make (python -m cnnkit.setup), so the two cannot differ.
	$(PY) -m cnnkit.setup jupyter
	@touch $(STAMP)

data: venv
	@if $(PY) -m cnnkit.data >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing the Debian package dataset-fashion-mnist ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	else \
	  echo "Fashion-MNIST is not on this machine, and apt-get cannot be used here (not root)."; \
	  echo "Any one of these fixes it:"; \
	  echo "  sudo apt-get install dataset-fashion-mnist    (then run make data again)"; \
	  echo "  export FASHION_MNIST_DIR=/folder/with/the/four/.gz/files"; \
	  echo "  with internet: $(PY) -c 'import keras; keras.datasets.fashion_mnist.load_data()'"; \
	  exit 1; \
	fi
	@if [ -d /usr/share/datasets/fashion-mnist ]; then $(PY) -m cnnkit.data link; else $(PY) -m cnnkit.data; fi

lab: setup
	cd lessons && ../$(VENV)/bin/jupyter lab --port=$(PORT) $(ALLOW_ROOT)

test: setup test-deps
	@# pytest exit 5 means "no tests collected": that is a failure, never a pass.
	COURSE_MODE=fast FASHION_MNIST_NO_DOWNLOAD=1 $(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# What the test suite needs beyond .venv and the data (make lab needs none of it): the chromium
# that the browser tests drive, the PostgreSQL whose throwaway servers the gradebook tests start,
# and Node for the hub's proxy (npm ci from jupyterhub-config/package-lock.json). As root (or with password-less
# sudo) on Debian they are installed; otherwise make test says what to install and stops.
TEST_DEBS := chromium postgresql
PROXY     := jupyterhub-config/node_modules/.package-lock.json
SUDO      := $(if $(filter 0,$(shell id -u)),,sudo -n)

test-deps: $(PROXY)
	@missing=$$(for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null && $(SUDO) true 2>/dev/null; then \
	  echo "Installing the Debian packages the tests need:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
	  echo "make test needs these Debian packages, and cannot install them here (not root, no password-less sudo):" $$missing; \
	  echo "  sudo apt-get install --no-install-recommends" $$missing "   (then make test again)"; \
	  exit 1; \
	fi

# The hub's proxy (configurable-http-proxy, pinned in jupyterhub-config/package-lock.json), again whenever the lock file changes.
$(PROXY): jupyterhub-config/package-lock.json
	@command -v npm >/dev/null || { \
	  if command -v apt-get >/dev/null && $(SUDO) true 2>/dev/null; then \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
	  else echo "npm is missing: sudo apt-get install nodejs npm (the hub's proxy needs Node)"; exit 1; fi; }
	cd jupyterhub-config && npm ci --no-audit --no-fund --loglevel=error

# No dependency on venv: the doctor diagnoses the environment as it is, without installing first.
doctor:
	@test -x $(PY) || { echo "There is no $(VENV) yet: run make setup (or make lab), then make doctor again." >&2; exit 1; }
	@$(PY) -m cnnkit.doctor

release: venv
	$(PY) -m autograder release

grade: venv
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=dir [OUT=grading-output]"; exit 2; }
	$(PY) -m autograder grade "$(SUBMISSIONS)" --out "$(OUT)"

check: venv
	@test -n "$(NB)" || { echo "usage: make check NB=path/to/notebook.ipynb"; exit 2; }
	$(PY) -m autograder check "$(NB)"

solutions: venv
	$(PY) -m autograder execute

# A class on JupyterHub (docs/hub.md): as root, on the machine that serves the class.
# The proxy from npm (jupyterhub-config/package-lock.json), $HUB_ROOT (default /srv/pixels-to-lenet) with the
# exchange and the course folder, the accounts of ROSTER, then the hub in the foreground.
HUB_ROOT ?= /srv/pixels-to-lenet
hub: setup
	@test "$$(id -u)" = 0 || { echo "make hub needs root: PAM logins, real accounts, the sandbox (sudo make hub)"; exit 1; }
	@$(MAKE) --no-print-directory $(PROXY)
	HUB_ROOT=$(HUB_ROOT) $(PY) -m autograder hub setup
	@if [ -n "$(ROSTER)" ]; then HUB_ROOT=$(HUB_ROOT) $(PY) -m autograder hub users "$(ROSTER)" \
	  $(if $(INSTRUCTOR),--instructor $(INSTRUCTOR)); fi
	HUB_ROOT=$(HUB_ROOT) $(VENV)/bin/jupyterhub -f jupyterhub-config/jupyterhub_config.py

clean:
	rm -rf $(OUT) test-artifacts autograder/submitted autograder/autograded autograder/feedback autograder/gradebook.db
