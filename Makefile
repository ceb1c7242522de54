# The two commands a new machine needs:
#   make demo   bring the staging lab up (if it is not) and audit it
#   make test   every test, the lab's included
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(abspath $(VENV))/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: deps demo demo-snapshots test unit lint bench fuzz clean

deps:
	@VENV=$(VENV) scripts/install-deps.sh

demo: deps lab-up
	ansible-playbook audit.yml -i tests/lab/inventory.yml

# The same audit over shipped snapshots of a few nodes (no lab needed).
demo-snapshots: deps
	ansible-playbook audit.yml -i tests/snapshots/inventory.yml

unit: deps
	$(PYTHON) -m pytest -q -m "not lab"

lint: deps
	ansible-doc -M library compute_audit > /dev/null
	ansible-lint --offline --profile production

test: deps
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory lab-up
	LAB_REQUIRED=1 $(PYTHON) -m pytest -q; rc=$$?; $(MAKE) --no-print-directory lab-down; exit $$rc

clean: lab-down
	rm -rf reports .pytest_cache

include tests/lab/lab.mk
