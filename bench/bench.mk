# The performance benchmark (issue 5; bench/README.md). Included by the
# top-level Makefile: `include bench/bench.mk`.
#   make bench         crime-bench, then the full run: about 18 minutes on 2 cores; reports/bench.json + a table
#   make bench-smoke   N = 3 hosts, tiny sizes, under a minute: reports/bench-smoke.json
# A benchmark, not a test: it exits 0 whenever it ran, met or missed targets
# alike (BENCH_ARGS=--strict makes a missed target exit 3).
PYTHON ?= python3
BENCH_ARGS ?=
CRIME_BENCH_ARGS ?=
# The top-level Makefile may add `bench bench-smoke: deps` (prerequisites add up).
BENCH_DEPS ?=

.PHONY: bench bench-smoke crime-bench

bench: $(BENCH_DEPS) crime-bench
	ANSIBLE_CONFIG=$(abspath ansible.cfg) $(PYTHON) bench/run.py $(BENCH_ARGS)

# The VIP without a master: all at once vs the rollout vs live migration, on the lab's real
# keepalived guests (bench/crime_bench.py): reports/crime.json. Brings the lab up, leaves it up.
crime-bench: $(BENCH_DEPS)
	$(MAKE) --no-print-directory lab-up
	ANSIBLE_CONFIG=$(abspath ansible.cfg) $(PYTHON) bench/crime_bench.py $(CRIME_BENCH_ARGS)

bench-smoke: $(BENCH_DEPS)
	ANSIBLE_CONFIG=$(abspath ansible.cfg) $(PYTHON) bench/run.py --smoke $(BENCH_ARGS)
