# One command per job. Variables: PY (python), RESULTS (results dir), ARGS (extra Hydra overrides).
PY ?= python
RESULTS ?= results
GLUE ?= ../shared/data/glue
ARGS ?=

.PHONY: install test test-fast test-slurm slurm-start slurm-stop lint demo tables bench bench-quick plan hparams \
        sweep-table1 sweep-table2 sweep-table3 sweep-table4 sweep-table5 sweep-table6 sweep-fig2 sweep-fig3 \
        sweep-minilm

install:  ## CPU install: torch pinned first (an unpinned torch pulls a multi-GB CUDA build)
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[test]"

test:  ## the whole suite (CPU, no network, no daemons: the `slurm` tier is deselected in pyproject's addopts)
	$(PY) -m pytest -q

test-fast:  ## skip the slow real-model / multi-process checks
	$(PY) -m pytest -q -m "not slow and not slurm"

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

demo:  ## a few-minute real DCFT d=8 fine-tune of the packaged MiniLM on STS-B (offline); prints the dev score
	$(PY) run.py model=minilm task=stsb method=dcft kernel=8 data.dir=$(GLUE) logger=none \
	  trainer.epochs=1 trainer.batch_size=32 trainer.max_length=64 trainer.eval_steps=60 \
	  trainer.warmup_steps=null trainer.warmup_ratio=0.1 method.lr=1e-2 results_dir=$(RESULTS)/demo $(ARGS)

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

sweep-minilm:  ## the real CPU sweep behind results/tables (MiniLM, RTE + STS-B, DCFT d=2/8 and LoRA)
	$(PY) run.py -m +experiment=minilm_cpu data.dir=$(GLUE) results_dir=$(RESULTS) $(ARGS)

sweep-%:  ## launch a table's sweep: make sweep-table4 [ARGS="hydra/launcher=slurm_a800 hydra.launcher.partition=..."]
	$(PY) run.py -m +experiment=$* results_dir=$(RESULTS) $(ARGS)
