# One command per job. Variables: PY (python), RESULTS (results dir), ARGS (extra Hydra overrides),
# JOBS (jobs side by side for sweep-local / study), EXP (an experiment preset).
PY ?= python
RESULTS ?= results
GLUE ?= data/glue
ARGS ?=
JOBS ?= 2

.PHONY: install test test-slow test-slurm check-wheel ci slurm-start slurm-stop lint demo tables bench bench-quick \
        plan hparams sweep-local study study-seeds study-checks

install:  ## CPU install: torch pinned first (an unpinned torch pulls a multi-GB CUDA build)
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[test]"

test:  ## the fast tier: every unit and tiny-model check (CPU, no network, no daemons; ~5 min on 2 cores)
	$(PY) -m pytest -q -rs -m "not slow and not slurm"

test-slow:  ## the slow tier: real MiniLM learning, multi-process, sweeps, kill/resume, export, bench smoke
	$(PY) -m pytest -q -rs -m "slow and not slurm"

check-wheel:  ## build a wheel, install it in a fresh venv, dry-run from outside the source tree
	scripts/check_wheel.sh

ci: test test-slow check-wheel test-slurm  ## everything CI runs (.ci/run)

# The SLURM tier: a real local single-node cluster (root; installs Debian's slurm + munge + mariadb once),
# then `pytest -m slurm`. Skipped with a one-line reason where it cannot run. A cluster that was already
# up is left up; one this target started is stopped.
test-slurm:
	@if ! reason=$$(scripts/slurm_local.sh check); then echo "SLURM tier skipped: $$reason"; exit 0; fi; \
	was_up=$$(scripts/slurm_local.sh status >/dev/null 2>&1 && echo yes); \
	scripts/slurm_local.sh start; st=$$?; \
	if [ $$st = 3 ]; then echo "SLURM tier skipped: its packages could not be installed"; exit 0; fi; \
	if [ $$st != 0 ]; then exit $$st; fi; \
	$(PY) -m pytest -q -m slurm; rc=$$?; \
	[ -n "$$was_up" ] || scripts/slurm_local.sh stop; exit $$rc

slurm-start:  ## start the local single-node SLURM cluster (scripts/slurm_local.sh; root)
	scripts/slurm_local.sh start

slurm-stop:
	scripts/slurm_local.sh stop

lint:
	ruff check dcft scripts tests run.py

demo:  ## a real fine-tune, offline (about 35 min on 2 idle cores): one cell of the MiniLM study (STS-B, DCFT d=8 at its chosen lr 1e-2, seed 1)
	$(PY) run.py +experiment=minilm_study task=stsb method=dcft_d8 lr_x=10 results_dir=$(RESULTS)/demo $(ARGS)

tables:  ## the paper's tables and figures, from whatever records exist
	$(PY) scripts/tables.py --results-dir $(RESULTS) --out $(RESULTS) $(ARGS)

bench:  ## training-step / layer / eval benchmark on the DeBERTaV3-base architecture (random weights)
	$(PY) scripts/bench.py --out $(RESULTS)/bench --readme README.md $(ARGS)

bench-quick:
	$(PY) scripts/bench.py --quick --out $(RESULTS)/bench $(ARGS)

hparams:  ## regenerate dcft/conf/hparams/{released,paper} and DIFFERENCES.md from dcft/data
	$(PY) scripts/import_hparams.py

plan:  ## list the jobs of a preset without running them: make plan EXP=table4
	$(PY) scripts/plan.py +experiment=$(EXP) results_dir=$(RESULTS) $(ARGS)

sweep-local:  ## a preset's unfinished jobs, JOBS at a time on this machine: make sweep-local EXP=minilm_study
	$(PY) scripts/plan.py --todo +experiment=$(EXP) results_dir=$(RESULTS) $(ARGS) | xargs -r -P $(JOBS) -L 1 $(PY) run.py

STUDY_TASKS ?= stsb cola rte
# method rounds (space between rounds): the claim's core first, then `all` = every method of the preset's sweeper
# (the param-matched rivals and any method added there later; finished cells are skipped), so a study cut short has
# the core's seeds before the rivals' grids (the findings' cut order). Leave `all` out to skip the rest.
STUDY_ROUNDS ?= dcft_d8,lora,dcft_d2,full,bitfit all

# One task at a time, so a stopped study has whole tasks done; per round of methods, its lr grids (phase 1), then
# seeds at the winners (phase 2, twice: a grid extended on its edge in the first pass gets its seeds in the second);
# then the doubling check at every winner still climbing at its end (phase 3). A failed cell (e.g. a NaN at the
# top of a grid) is on record and does not stop the others.
study:  ## the MiniLM study (results/minilm/README.md): per task and method round, lr grids on seed 1, then seeds 2-3; then schedule checks; resumable
	@for t in $(STUDY_TASKS); do \
	  for methods in $(STUDY_ROUNDS); do \
	    only=$$([ "$$methods" = all ] || echo "method=$$methods"); \
	    $(MAKE) --no-print-directory sweep-local EXP=minilm_study ARGS="task=$$t $$only $(ARGS)" \
	      || echo "study: a $$t cell failed (its record says why)"; \
	    for pass in 1 2; do \
	      $(MAKE) --no-print-directory study-seeds ARGS="task=$$t $(ARGS)" || echo "study: a $$t phase-2 cell failed"; \
	    done; \
	  done; \
	  $(MAKE) --no-print-directory study-checks ARGS="task=$$t $(ARGS)" || echo "study: a $$t schedule check failed"; \
	done

study-seeds:  ## phase 2: seeds 2 and 3 at each (task, method)'s chosen lr; an edge winner first gets the next grid point
	$(PY) scripts/study_seeds.py --results-dir $(RESULTS) --model minilm --seeds 2,3 -- +experiment=minilm_study \
	  results_dir=$(RESULTS) $(ARGS) | xargs -r -P $(JOBS) -L 1 $(PY) run.py

study-checks:  ## phase 3: twice the steps at each winner still climbing in its last third ($(RESULTS)/minilm/schedule-check)
	$(PY) scripts/study_schedule_checks.py --results-dir $(RESULTS) --model minilm -- \
	  +experiment=minilm_study $(ARGS) | xargs -r -P $(JOBS) -L 1 $(PY) run.py

sweep-%:  ## launch a table's sweep: make sweep-table4 [ARGS="hydra/launcher=slurm_a800 hydra.launcher.partition=..."]
	$(PY) run.py -m +experiment=$* results_dir=$(RESULTS) $(ARGS)
