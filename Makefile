# The two commands a new machine needs:
#   make demo   bring the staging lab up (if it is not) and audit it
#   make test   every test, the lab's included
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(abspath $(VENV))/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: deps demo demo-snapshots demo-offline test unit test-lab lint fuzz clean crime

deps:
	@VENV=$(VENV) scripts/install-deps.sh

demo: deps lab-up
	ansible-playbook audit.yml -i tests/lab/inventory.yml

# The same audit over shipped snapshots of a few nodes (no lab needed).
demo-snapshots: deps
	ansible-playbook audit.yml -i tests/snapshots/inventory.yml

# Offline evidence: collect every lab node into snapshots/<host>-<UTC time>.tar.gz,
# then audit the archives (not the nodes) on the controller.
demo-offline: deps lab-up
	rm -rf snapshots/demo && mkdir -p snapshots/demo
	ansible-playbook collect.yml -i tests/lab/inventory.yml -e collect_dest=$(abspath snapshots/demo) \
	    || test $$? -eq 4   # 4: compute-5 (a closed port by design) is unreachable; the others are collected
	$(PYTHON) scripts/offline_inventory.py snapshots/demo/*.tar.gz -o snapshots/demo/inventory.yml
	ansible-playbook audit.yml -i snapshots/demo/inventory.yml -e audit_report_dir=$(abspath reports/offline)

unit: deps
	$(PYTHON) -m pytest -q -m "not lab"

lint: deps
	ansible-doc -M library compute_audit > /dev/null
	ansible-doc -M library domain_restart > /dev/null
	ansible-doc -M library vrrp_probe > /dev/null
	ansible-doc -M library node_collect > /dev/null
	ansible-lint --offline --profile production

test: deps
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory lab-up
	LAB_REQUIRED=1 $(PYTHON) -m pytest -q; rc=$$?; $(MAKE) --no-print-directory lab-down; exit $$rc

# Only the tests that need the lab (brings it up and down).
test-lab: deps
	$(MAKE) --no-print-directory lab-up
	LAB_REQUIRED=1 $(PYTHON) -m pytest -q -m lab; rc=$$?; $(MAKE) --no-print-directory lab-down; exit $$rc

# The 2014 incident, live (tests/lab/crime.py): real keepalived guests, the probe, lb01's qemu
# starved 5 s. Exits 2 when the probe found the flap / late adverts (what it must show), 0 when
# the incident was not reproduced. The lab stays up (make lab-down).
crime: deps lab-up
	$(PYTHON) tests/lab/crime.py

# Long fuzzing: hypothesis with 20,000 examples per property, then atheris
# (coverage-guided) on every parser when it is installed (pip install atheris).
fuzz: deps
	HYPOTHESIS_PROFILE=fuzz $(PYTHON) -m pytest -q tests/robustness/test_fuzz.py
	@if $(PYTHON) -c "import atheris" 2>/dev/null; then \
	  for t in shellvars proc_modules lsmod modprobe modules_load modules_builtin cmdline shell_args argv redact domxml qemulog; do \
	    $(PYTHON) tests/robustness/atheris_targets.py $$t -atheris_runs=50000 || exit 1; done; \
	else echo "atheris not installed: skipped (pip install atheris)"; fi

clean: lab-down
	rm -rf reports .pytest_cache

BENCH_DEPS := deps
include tests/lab/lab.mk
include bench/bench.mk

# The Ansible collection vhostaudit.compute, built from this repository's layout
# (scripts/build_collection.py): build/vhostaudit-compute-<version>.tar.gz.
.PHONY: collection collection-test
collection: deps
	$(PYTHON) scripts/build_collection.py

# ansible-test on the built collection: the sanity tests that run here without
# a container or a download from outside the package registries, and the units.
collection-test: collection
	$(PYTHON) -m pytest -q tests/e2e/test_collection.py
