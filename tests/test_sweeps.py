"""Sweeps: a real submitit_local sweep, failure isolation in a multirun, and the plan command."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, short_run, write_rte


def run_py(args, timeout=600):
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def records(results):
    return {p.relative_to(results / "runs").as_posix(): json.loads(p.read_text())
            for p in sorted((results / "runs").rglob("*.json"))}


@pytest.mark.slow
def test_submitit_local_sweep_writes_one_record_per_job(tmp_path, minilm_dir):
    data, results = write_rte(tmp_path / "glue"), tmp_path / "results"
    out = run_py(["-m", "hydra/launcher=local_parallel", *short_run(minilm_dir, data, results), "method=dcft,lora"])
    assert out.returncode == 0, out.stderr[-3000:]
    found = records(results)
    assert sorted((r["method_tag"], r["lr"], r["seed"]) for r in found.values()) == [
        ("dcft-d8-s8", 0.0012, 6), ("lora-r1", 0.0012, 6)]
    assert all(r["status"] == "finished" for r in found.values())


@pytest.mark.slow
def test_multirun_isolates_a_failing_job(tmp_path, minilm_dir):
    data, results = write_rte(tmp_path / "glue"), tmp_path / "results"
    # kernel=64 is larger than the tiny model's 32-wide layers: that job fails, the other one finishes
    out = run_py(["-m", *short_run(minilm_dir, data, results), "method=dcft", "kernel=64,4"])
    found = {r["method_tag"]: r for r in records(results).values()}
    assert found["dcft-d4-s4"]["status"] == "finished"
    failed = found["dcft-d64-s64"]
    assert failed["status"] == "failed" and "kernel=64" in failed["error"] and "kernel=64" in failed["command"]
    assert out.returncode != 0  # the sweep reports the failure at its end
    # relaunching the same sweep skips the finished cell and never touches its run directory
    again = run_py(["-m", *short_run(minilm_dir, data, results), "method=dcft", "kernel=4"])
    assert again.returncode == 0 and "already finished" in again.stdout


def test_plan_lists_jobs_and_their_records(tmp_path):
    from hydra import compose, initialize_config_dir

    from dcft.config import from_hydra
    from dcft.paths import CONF_DIR

    results = tmp_path / "r"
    job = ["+experiment=table5", "task=rte", "method=dcft_d8", "seed=6", f"results_dir={results}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cell = Path(from_hydra(compose(config_name="config", overrides=job), overrides=job).record_path)
    cell.parent.mkdir(parents=True)
    cell.write_text(json.dumps({"status": "finished"}))
    cmd = [sys.executable, "scripts/plan.py", "+experiment=table5", "seed=6,7", f"results_dir={results}"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("32 jobs, 32 cells: 1 finished")
    assert any(line.startswith("[ finished]") and "task=rte method=dcft_d8" in line and "seed=6" in line
               for line in lines)


def test_plan_prices_the_unfinished_jobs_from_the_finished_runs_step_times(tmp_path):
    """`make plan` before a sweep: seconds per step measured by finished runs of the same (model, task, method),
    scaled to each unfinished job's steps; without one, its task's other methods time it (marked ~); a job on a
    task with no finished run is counted apart, not guessed."""
    from hydra import compose, initialize_config_dir

    from dcft.config import from_hydra
    from dcft.paths import CONF_DIR

    results = tmp_path / "r"
    job = ["+experiment=minilm_study", "task=stsb", "method=dcft_d8", "lr_x=1", f"results_dir={results}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cell = Path(from_hydra(compose(config_name="config", overrides=job), overrides=job).record_path)
    cell.parent.mkdir(parents=True)
    cell.write_text(json.dumps({"status": "finished", "step": 1080, "train_time_s": 7000, "eval_time_s": 776}))
    cmd = [sys.executable, "scripts/plan.py", "+experiment=minilm_study", "task=stsb", "method=dcft_d8,lora",
           "lr_x=1,3", f"results_dir={results}"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("4 jobs, 4 cells: 1 finished")
    # 7,776 s / 1,080 steps = 7.2 s per step: 2.16 h per unfinished job; LoRA has no timed run of its own, so
    # its task's DCFT run times it, approximately (~)
    assert lines[1].startswith("measured cost of the 3 unfinished jobs with a timed peer: 6.5 job-hours (2 timed by "
                               "other methods on their task: ~)")
    rows = {(line.split()[4], line.split()[5]): line.split()[9] for line in lines[3:]}
    assert rows[("dcft-d8-s8", "0.003")] == rows[("dcft-d8-s8", "0.001")] == "7.20"
    assert rows[("lora-r1", "0.0001")] == "~7.20"
    cmd[3:5] = ["task=rte", "method=lora"]  # no finished run on RTE at all
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "0 unfinished jobs with a timed peer: 0.0 job-hours; 2 without one" in out.stdout
    assert out.stdout.splitlines()[3].split()[9] == "?"


def test_plan_scales_a_task_s_other_methods_by_the_method_s_cost_on_other_tasks(tmp_path):
    """A method without a timed run on a task is priced from that task's other methods times how much slower it ran
    than the others on the model's other tasks (FourierFT's steps cost ~1.7x the median method's on every task)."""
    from hydra import compose, initialize_config_dir

    from dcft.config import from_hydra
    from dcft.paths import CONF_DIR

    results = tmp_path / "r"
    timed = {("stsb", "dcft_d8"): 2.0, ("stsb", "lora"): 6.0, ("rte", "dcft_d8"): 5.0}  # seconds per step
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for (task, method), rate in timed.items():
            job = ["+experiment=minilm_study", f"task={task}", f"method={method}", f"results_dir={results}"]
            cell = Path(from_hydra(compose(config_name="config", overrides=job), overrides=job).record_path)
            cell.parent.mkdir(parents=True)
            cell.write_text(json.dumps({"status": "finished", "step": 100, "train_time_s": 100 * rate}))
    cmd = [sys.executable, "scripts/plan.py", "+experiment=minilm_study", "task=rte", "method=lora,dcft_d2",
           "lr_x=1", f"results_dir={results}"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[4]: line.split()[9] for line in out.stdout.splitlines()[3:]}
    # on STS-B LoRA's step is 6.0 / median(2.0, 6.0) = 1.5x the task's median: RTE's 5.0 becomes 7.5; DCFT d=2 ran
    # on no other task, so it takes RTE's median as it is
    assert rows == {"lora-r1": "~7.50", "dcft-d2-s2": "~5.00"}


def test_plan_todo_lists_the_unfinished_jobs_as_run_py_arguments(tmp_path):
    """`make sweep-local` pipes these lines into `xargs -P N -L 1 python run.py`: one job per line, shell-quoted."""
    import shlex

    cmd = [sys.executable, "scripts/plan.py", "--todo", "+experiment=table5", "task=rte", "method.targets=qv",
           f"results_dir={tmp_path}"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    jobs = [shlex.split(line) for line in out.stdout.splitlines()]
    assert len(jobs) == 4 and all("+experiment=table5" in job and "method.targets=qv" in job for job in jobs)
    assert sorted(next(a for a in job if a.startswith("method=")) for job in jobs) == [
        "method=dcft_d8", "method=dcft_d8_s1", "method=dcft_d8_s2", "method=dcft_d8_s4"]


def test_study_seeds_repeat_each_winning_run_with_other_seeds(tmp_path, capsys):
    """Phase 2 of an lr study: the winner's own overrides, seed replaced; an edge winner chosen without `lr_x`
    is reported, not seeded."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from record_fixtures import write_record
    from study_seeds import main

    for lr, x, score in ((1e-3, 1, 60.0), (3e-3, 3, 70.0), (1e-2, 10, 65.0)):
        write_record(tmp_path, model="minilm", task="rte", lr=lr, best=score,
                     overrides=["task=rte", "method=dcft_d8", f"lr_x={x}", "+experiment=minilm_study",
                                "results_dir=/elsewhere/results", "seed=1"])
    for lr, score in ((1e-4, 50.0), (3e-4, 55.0)):  # LoRA's winner sits on its grid's edge
        write_record(tmp_path, model="minilm", task="rte", tag="lora-r1", lr=lr, best=score,
                     overrides=["task=rte", "method=lora", f"method.lr={lr}", "seed=1"])
    assert main(["--results-dir", str(tmp_path), "--model", "minilm", "--seeds", "2,3", "--min-grid", "2"]) == 0
    out, err = capsys.readouterr()
    assert sorted(out.splitlines()) == sorted([  # the winner's overrides, results_dir and seed replaced
        f"task=rte method=dcft_d8 lr_x=3 +experiment=minilm_study results_dir={tmp_path} seed=2",
        f"task=rte method=dcft_d8 lr_x=3 +experiment=minilm_study results_dir={tmp_path} seed=3"])  # no LoRA line
    assert "rte lora-r1: lr 0.0003 won (tried 0.0001, 0.0003; highest tried" in err and "extend the grid" in err


def test_study_seeds_wait_until_a_grid_has_four_finished_lrs(tmp_path, capsys):
    """Seeds spent at the winner of a half-run grid may be spent at the wrong lr: phase 2 waits for phase 1."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from record_fixtures import write_record
    from study_seeds import main

    for lr, x, score in ((1e-3, 1, 60.0), (3e-3, 3, 70.0), (1e-2, 10, 65.0)):
        write_record(tmp_path, model="minilm", task="rte", lr=lr, best=score,
                     overrides=["task=rte", "method=dcft_d8", f"lr_x={x}", "+experiment=minilm_study", "seed=1"])
    assert main(["--results-dir", str(tmp_path), "--model", "minilm"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "rte dcft-d8-s8: 3 lr(s) done, fewer than 4: finish its grid (phase 1) first" in err
    write_record(tmp_path, model="minilm", task="rte", lr=3e-2, best=50.0, status="diverged",  # an answer too
                 overrides=["task=rte", "method=dcft_d8", "lr_x=30", "+experiment=minilm_study", "seed=1"])
    assert main(["--results-dir", str(tmp_path), "--model", "minilm"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"task=rte method=dcft_d8 lr_x=3 +experiment=minilm_study results_dir={tmp_path} seed={s}" for s in (2, 3)]


def test_study_seeds_extend_a_grid_whose_winner_sits_on_its_edge(tmp_path, capsys):
    """An edge winner gets the next half-decade point beyond the edge (seed 1), not seeds."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from record_fixtures import write_record
    from study_seeds import main, next_half_decade

    assert [next_half_decade(x, "highest") for x in (1, 3, 10, 30)] == [3, 10, 30, 100]
    assert [next_half_decade(x, "lowest") for x in (1, 3, 0.3)] == [0.3, 1, 0.1]
    for lr, x, score in ((1e-2, 10, 60.0), (3e-2, 30, 70.0)):  # the highest wins: try lr_x=100
        write_record(tmp_path, model="minilm", task="stsb", lr=lr, best=score,
                     overrides=["task=stsb", "method=dcft_d8", f"lr_x={x}", "+experiment=minilm_study",
                                "results_dir=/elsewhere/results", "seed=1"])
    for lr, x, score in ((1e-4, 1, 60.0), (3e-4, 3, 50.0)):  # the lowest wins: try lr_x=0.3
        write_record(tmp_path, model="minilm", task="stsb", tag="lora-r1", lr=lr, best=score,
                     overrides=["task=stsb", "method=lora", f"lr_x={x}", "+experiment=minilm_study", "seed=1"])
    assert main(["--results-dir", str(tmp_path), "--model", "minilm", "--seeds", "2,3", "--min-grid", "2", "--",
                 "+experiment=minilm_study", f"results_dir={tmp_path}"]) == 0  # as make study-seeds calls it
    out, err = capsys.readouterr()
    assert sorted(out.splitlines()) == sorted([
        f"task=stsb method=dcft_d8 lr_x=100 +experiment=minilm_study results_dir={tmp_path} seed=1",
        f"task=stsb method=lora lr_x=0.3 +experiment=minilm_study results_dir={tmp_path} seed=1"])
    assert "extending the grid (lr_x=100)" in err and "extending the grid (lr_x=0.3)" in err


def test_study_checks_double_the_steps_of_a_winner_still_climbing(tmp_path, capsys):
    """Phase 3: the run that chose a winning lr, if its last third's mean rose more than the tolerance above its
    middle third's, is rerun with twice the steps and evaluations half as often, into a results root of its own;
    a flat winner, a losing lr and a winner on the grid's edge get nothing."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from record_fixtures import write_record
    from study_schedule_checks import main

    def curve(values):  # 6 evaluations over 600 steps: two per third
        return {"train_loss": [], "eval": [[100 * (i + 1), {"accuracy": v}] for i, v in enumerate(values)]}

    climbing, flat = curve([50, 55, 60, 62, 64, 66]), curve([50, 60, 61, 62, 61, 62])
    study = ["+experiment=minilm_study", "results_dir=/elsewhere/results"]
    for lr, x, score, seed, shape in ((1e-3, 1, 60.0, 1, flat), (3e-3, 3, 66.0, 1, climbing),
                                      (3e-3, 3, 64.0, 2, flat), (1e-2, 10, 50.0, 1, climbing)):
        path = write_record(tmp_path, model="minilm", task="rte", lr=lr, best=score, seed=seed, curves=shape,
                            total_steps=600, overrides=["task=rte", "method=dcft_d8", f"lr_x={x}", *study,
                                                        f"seed={seed}", "trainer.max_steps=600"])
        record = json.loads(path.read_text())
        record["trainer"]["eval_steps"] = 100
        path.write_text(json.dumps(record))
    for lr, x, score in ((1e-4, 1, 55.0), (3e-4, 3, 62.0), (1e-3, 10, 50.0)):  # LoRA wins flat; its climbing lrs lost
        write_record(tmp_path, model="minilm", task="rte", tag="lora-r1", lr=lr, best=score, total_steps=600,
                     curves=flat if score == 62.0 else climbing,
                     overrides=["task=rte", "method=lora", f"lr_x={x}", *study, "seed=1"])
    for lr, x, score in ((1e-4, 1, 55.0), (3e-4, 3, 62.0)):  # BitFit climbs, but on its grid's top edge
        write_record(tmp_path, model="minilm", task="rte", tag="bitfit", lr=lr, best=score, total_steps=600,
                     curves=climbing, overrides=["task=rte", "method=bitfit", f"lr_x={x}", *study, "seed=1"])
    checks = tmp_path / "checks"
    assert main(["--results-dir", str(tmp_path), "--checks-dir", str(checks), "--model", "minilm", "--min-grid", "2",
                 "--", "+experiment=minilm_study", "task=rte"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "task=rte method=dcft_d8 lr_x=3 +experiment=minilm_study trainer.max_steps=1200 trainer.eval_steps=200 "
        f"results_dir={checks} seed=1"]
    assert "rte dcft-d8-s8: lr 0.003 seed 1 gained +4.00 in its last third" in err
    assert "rte bitfit: its winner sits on the grid's edge" in err and "lora" not in err


@pytest.mark.slow
def test_a_busy_cell_is_refused_without_touching_its_record(tmp_path, minilm_dir):
    """Relaunching a sweep while an old job still trains a cell: the new job is refused, the record stays the
    old job's (never overwritten by `failed`)."""
    from hydra import compose, initialize_config_dir

    from dcft.config import from_hydra
    from dcft.paths import CONF_DIR
    from dcft.run_record import CellLock

    data, results = write_rte(tmp_path / "glue"), tmp_path / "results"
    args = short_run(minilm_dir, data, results, "method=lora")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = from_hydra(compose(config_name="config", overrides=args), overrides=args)
    record = Path(cfg.record_path)
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"status": "running", "owner": "the old job"}))
    with CellLock(Path(cfg.run_dir)):
        out = run_py(["-m", *args])
    assert out.returncode != 0 and "is being written by another process" in out.stderr + out.stdout
    assert json.loads(record.read_text()) == {"status": "running", "owner": "the old job"}


def test_plan_names_an_unknown_preset_in_one_line_with_the_choices(tmp_path):
    """`make plan` without EXP (or with a typo) is a user's mistake: one line listing the presets, no traceback."""
    cmd = [sys.executable, "scripts/plan.py", "+experiment=tabel1", f"results_dir={tmp_path}"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Could not find 'experiment/tabel1'" in out.stderr and "table1, table2" in out.stderr


def test_plan_shows_a_running_record_whose_process_is_gone_as_stopped(tmp_path):
    """A job killed outright (kill -9, a lost node) leaves `running` on record; `make plan` reads its writer's
    pid and host so it does not pretend the cell is still training."""
    import socket

    from hydra import compose, initialize_config_dir

    from dcft.config import from_hydra
    from dcft.paths import CONF_DIR
    from dcft.run_record import build_record, live_status

    results = tmp_path / "r"
    job = ["+experiment=minilm_study", "task=stsb", "method=lora", "lr_x=1", f"results_dir={results}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = from_hydra(compose(config_name="config", overrides=job), overrides=job)
    record = build_record(cfg, "running")
    assert record["process"]["pid"] == os.getpid() and record["process"]["host"] == socket.gethostname()
    assert live_status(record) == "running"  # this test's own python process
    assert live_status({**record, "process": {**record["process"], "host": "another-node"}}) == "running"
    assert "process" not in build_record(cfg, "finished")  # no host names in results meant to be shared

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record["process"]["pid"] = int(gone.stdout)
    assert live_status(record) == "stopped"
    Path(cfg.record_path).parent.mkdir(parents=True)
    Path(cfg.record_path).write_text(json.dumps(record))
    cmd = [sys.executable, "scripts/plan.py", "+experiment=minilm_study", "task=stsb", "method=lora", "lr_x=1",
           f"results_dir={results}"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1].startswith("[  stopped]"), out.stdout
