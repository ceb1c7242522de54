# The staging lab (tests/lab/lab.py): real compute nodes in namespaces, sshd on
# loopback. Included by the top-level Makefile (`include tests/lab/lab.mk`).
# Needs root. LAB_BASE_PORT (default 22201) moves the five loopback ports.
PYTHON ?= python3
LAB := $(PYTHON) tests/lab/lab.py

.PHONY: lab-up lab-down lab-status

lab-up:       ## start the lab (idempotent), write tests/lab/inventory.yml
	$(LAB) up

lab-down:     ## stop the lab; leaves no process, mount or tap device (idempotent)
	$(LAB) down

lab-status:   ## one line per node; exit status 0 only if every node is up
	$(LAB) status
