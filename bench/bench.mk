# The performance benchmark (issue 5; bench/README.md). Included by the
# top-level Makefile: `include bench/bench.mk`.
#   make bench         full run, about 10 minutes on 2 cores: reports/bench.json + a table
#   make bench-smoke   N = 3 hosts, tiny sizes, under a minute: reports/bench-smoke.json
# A benchmark, not a test: it exits 0 whenever it ran, met or missed targets
# alike (BENCH_ARGS=--strict makes a missed target exit 3).
PYTHON ?= python3
BENCH_ARGS ?=
# The top-level Makefile may add `bench bench-smoke: deps` (prerequisites add up).
BENCH_DEPS ?=

.PHONY: bench bench-smoke

bench: $(BENCH_DEPS)
	ANSIBLE_CONFIG=$(abspath ansible.cfg) $(PYTHON) bench/run.py $(BENCH_ARGS)

bench-smoke: $(BENCH_DEPS)
	ANSIBLE_CONFIG=$(abspath ansible.cfg) $(PYTHON) bench/run.py --smoke $(BENCH_ARGS)
