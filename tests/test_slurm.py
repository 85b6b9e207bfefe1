"""SLURM for real: sweeps through the A800 / 2080-Ti presets, preemption + requeue, two tasks, tables.

Needs a running cluster (`make test-slurm` starts the local one: scripts/slurm_local.sh). Only what the
local node lacks is overridden: the partition and GPUs (and tasks, which the presets tie to GPUs).
Records are found by their fields, never by their paths.
"""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT, short_run, write_rte
from omegaconf import OmegaConf

from dcft.paths import CONF_DIR

pytestmark = pytest.mark.slurm
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # jobs inherit it through sbatch; a reference run uses it too
STEPS = 200  # long enough to interrupt mid-run, short enough for a few minutes in all
PREEMPT = [f"trainer.max_steps={STEPS}", "trainer.eval_steps=50", "trainer.cls_dropout=0.1", "method=dcft", "kernel=4"]


# -- the cluster --------------------------------------------------------------------------------------
def _sh(*cmd: str, timeout: int = 60) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)}: {out.stderr.strip()}"
    return out.stdout


@pytest.fixture(scope="session")
def partition() -> str:
    """The cluster's default partition; skips (with the reason) where no SLURM cluster answers."""
    if shutil.which("sinfo") is None:
        pytest.skip("no SLURM client here; `make test-slurm` installs and starts a local cluster")
    out = subprocess.run(["sinfo", "-h", "-o", "%P %T"], capture_output=True, text=True, timeout=30)
    ready = [line.split()[0] for line in out.stdout.splitlines() if re.search(r"\b(idle|mixed)\b", line)]
    if out.returncode != 0 or not ready:
        pytest.skip(f"no SLURM node ready ({(out.stderr or out.stdout).strip()[:200] or 'sinfo: none idle'}); "
                    "start one: scripts/slurm_local.sh start")
    default = [p for p in ready if p.endswith("*")]
    return os.environ.get("DCFT_SLURM_PARTITION", (default or ready)[0].rstrip("*"))


def launcher(preset: str, partition: str, name: str, folder: Path, tasks: int = 1) -> list[str]:
    """A preset as a user runs it, with what this node lacks overridden (no GPUs: tasks follow GPUs there)."""
    return [f"hydra/launcher={preset}", f"hydra.launcher.partition={partition}", "hydra.launcher.gpus_per_node=0",
            f"hydra.launcher.tasks_per_node={tasks}", f"hydra.launcher.name={name}",
            f"hydra.launcher.submitit_folder={folder}/%j"]  # a fresh cluster restarts job ids at 1


@contextmanager
def sweep(name: str, args: list[str]):
    """`python run.py -m ...` in the background; whatever happens, no sweep process or job is left behind."""
    proc = subprocess.Popen([sys.executable, "run.py", "-m", *args], cwd=ROOT, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield proc
    except BaseException:  # a check failed midway (on success the jobs are done: a cancel could still hit one)
        subprocess.run(["scancel", f"--name={name}"], capture_output=True, timeout=60)
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def finish(proc: subprocess.Popen, timeout: int = 600) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def job_ids(name: str) -> list[str]:
    """The jobs a sweep submitted under its job name: `12` or array tasks `12_0`, `12_1` (as sacct -j reads them)."""
    out = _sh("sacct", "-n", "-X", "-P", f"--name={name}", "-S", "now-1hour", "-o", "JobID")
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def job_fields(job: str) -> dict[str, str]:
    """What slurmctld holds for a job (MinJobAge keeps finished ones for 10 minutes)."""
    line = _sh("scontrol", "show", "job", "-o", job)
    return dict(token.split("=", 1) for token in line.split() if "=" in token)


def job_states(job: str, timeout: float = 60) -> list[str]:
    """Every run of a job, oldest first (a requeued job: REQUEUED, then its new run), once it has ended.

    submitit returns as soon as a job wrote its result; SLURM may still show it running for a moment."""
    deadline = time.time() + timeout
    while True:
        out = _sh("sacct", "-n", "-X", "-P", "-D", "-j", job, "-o", "State")
        states = [line.split()[0] for line in out.splitlines() if line.strip()]
        if states and states[-1] not in ("PENDING", "RUNNING", "COMPLETING", "REQUEUED") or time.time() > deadline:
            return states
        time.sleep(0.5)


def records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "runs").rglob("*.json"))]


def record_where(results: Path, **fields) -> dict:
    found = [r for r in records(results) if all(r.get(k) == v for k, v in fields.items())]
    assert len(found) == 1, f"{len(found)} records with {fields}: {[(r['method_tag'], r['seed']) for r in found]}"
    return found[0]


def training_started(results: Path) -> bool:
    logs = list(results.rglob("metrics.jsonl"))
    return bool(logs) and '"loss"' in logs[0].read_text()


def logged_steps(results: Path) -> list[dict]:
    logs = list(results.rglob("metrics.jsonl"))
    assert len(logs) == 1, logs
    return [json.loads(line) for line in logs[0].read_text().splitlines() if '"loss"' in line]


def wait_for(what: str, check, proc: subprocess.Popen | None, timeout: float = 300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep ended before {what}: {proc.stdout.read()[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# -- sweeps through the presets -------------------------------------------------------------------------
def expect_preset_reached_sbatch(preset: str, job: str, tasks: int = 1) -> None:
    """Each field of the preset that this node can honour is what slurmctld holds for the job."""
    conf = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "hydra" / "launcher" / f"{preset}.yaml"), resolve=True)
    fields = job_fields(job)
    minutes = conf["timeout_min"]
    assert fields["TimeLimit"] == f"{minutes // 1440}-{minutes % 1440 // 60:02d}:{minutes % 60:02d}:00".removeprefix(
        "0-"), fields["TimeLimit"]
    assert fields["CPUs/Task"] == str(conf["cpus_per_task"])
    assert fields["MinMemoryNode"] == f"{conf['mem_gb']}G"
    assert fields["NumTasks"] == str(tasks) and fields["NumNodes"] == str(conf["nodes"])
    assert fields["Requeue"] == "1"
    script = _sh("scontrol", "write", "batch_script", job, "-")
    assert f"#SBATCH --signal=USR1@{conf['signal_delay_s']}\n" in script  # to the tasks, not the batch shell
    assert "#SBATCH --requeue\n" in script


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, minilm_dir, partition):
    """Two real sweeps into one results dir: A800 preset (kernel 2,4 x seed 1,2; all finish) and
    2080-Ti preset (kernel 8,64 x seed 1,2; kernel 64 is wider than the tiny model: those jobs fail)."""
    tmp = tmp_path_factory.mktemp("sweeps")
    data, results = write_rte(tmp / "glue"), tmp / "results"
    runs = {}
    for preset, grid in (("slurm_a800", ["kernel=2,4", "seed=1,2"]), ("slurm_2080ti", ["kernel=8,64", "seed=1,2"])):
        name = f"dcft-test-{preset}-{uuid.uuid4().hex[:8]}"
        with sweep(name, [*launcher(preset, partition, name, tmp / "submitit"),
                          *short_run(minilm_dir, data, results), "method=dcft", *grid]) as proc:
            code, out = finish(proc)
        runs[preset] = {"code": code, "out": out, "jobs": job_ids(name)}
    return results, runs


def test_a800_preset_sweep_runs_every_job_with_the_preset_settings(sweeps):
    results, runs = sweeps
    run = runs["slurm_a800"]
    assert run["code"] == 0, run["out"][-3000:]
    assert len(run["jobs"]) == 4
    for job in run["jobs"]:
        assert job_states(job) == ["COMPLETED"]
        expect_preset_reached_sbatch("slurm_a800", job)
    for kernel in (2, 4):
        for seed in (1, 2):
            record = record_where(results, method_tag=f"dcft-d{kernel}-s{kernel}", seed=seed)
            assert record["status"] == "finished" and record["step"] == 3 and record["best"]["metrics"]


def test_2080ti_preset_sweep_records_a_failing_job_and_finishes_the_others(sweeps):
    results, runs = sweeps
    run = runs["slurm_2080ti"]
    assert run["code"] != 0  # the sweep reports its failed jobs at the end ...
    assert len(run["jobs"]) == 4
    for job in run["jobs"]:
        assert job_states(job) == ["COMPLETED"]  # ... each of which ended normally, with its reason on record
        expect_preset_reached_sbatch("slurm_2080ti", job)
    for seed in (1, 2):
        assert record_where(results, method_tag="dcft-d8-s8", seed=seed)["status"] == "finished"
        failed = record_where(results, method_tag="dcft-d64-s64", seed=seed)
        assert failed["status"] == "failed" and "kernel=64" in failed["error"], failed["error"]


def test_make_tables_renders_the_sweep_records(sweeps, tmp_path):
    results, _ = sweeps
    out = subprocess.run(["make", "tables", f"PY={sys.executable}", f"RESULTS={results}",
                          "ARGS=--model bert-base --no-figures"], cwd=ROOT, env=ENV, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    table4 = (results / "tables" / "table4.md").read_text()
    for kernel in (2, 4, 8):  # two seeds each; the failed kernel-64 jobs never give a number
        row = next(line for line in table4.splitlines() if line.startswith(f"| DCFT (d={kernel}) |"))
        assert "(n=2)" in row, row
    index = (results / "tables" / "README.md").read_text()
    assert re.search(r"^\| 4 \| DCFT kernel size d.*\| 3/36 \|", index, re.M), index  # d=2, 4, 8 on RTE


# -- preemption -----------------------------------------------------------------------------------------
def task_pid(job: str, task: int) -> int:
    """The process of one task of the job's first step (scontrol listpids: PID JOBID STEPID LOCALID GLOBALID)."""
    for line in _sh("scontrol", "listpids", job).splitlines()[1:]:
        pid, _, step, _, rank = (line.split() + ["-"] * 5)[:5]
        if step == "0" and rank == str(task):
            return int(pid)
    raise AssertionError(f"no task {task} in job {job}")


def usr1_to_every_task(job: str) -> None:
    _sh("scancel", "--signal=USR1", job)  # what the time limit sends signal_delay_s before the end


def usr1_to_task_1_only(job: str) -> None:
    os.kill(task_pid(job, 1), signal.SIGUSR1)  # the extreme of tasks seeing the signal at different steps


def urgent_job_takes_the_node(job: str) -> None:
    """A job in the higher-priority partition needs the whole node: SLURM preempts ours (SIGTERM, requeue)."""
    if "urgent" not in _sh("sinfo", "-h", "-o", "%P").split():
        pytest.skip("no 'urgent' partition (the one scripts/slurm_local.sh sets up to preempt 'local')")
    _sh("sbatch", "-p", "urgent", "--exclusive", f"-J{job}-urgent", "-o", "/dev/null", "--wrap", "sleep 2")


def interrupt_and_follow(tmp: Path, minilm_dir: str, partition: str, interrupt, preset="slurm_a800", tasks=1):
    """Start one job, interrupt it once it trains, and follow it through checkpoint, requeue and resume.
    Returns the final record, the preempted one, the job id, the job's stdout and the results dir."""
    data, results = write_rte(tmp / "glue", n_train=40), tmp / "results"
    name = f"dcft-test-preempt-{uuid.uuid4().hex[:8]}"
    with sweep(name, [*launcher(preset, partition, name, tmp / "submitit", tasks),
                      *short_run(minilm_dir, data, results, *PREEMPT)]) as proc:
        job = wait_for("the job to train", lambda: training_started(results) and job_ids(name), proc)[0]
        interrupt(job)
        preempted = wait_for("the preempted record",
                             lambda: [r for r in records(results) if r["status"] == "preempted"], proc, timeout=120)[0]
        code, out = finish(proc)
        subprocess.run(["scancel", f"--name={job}-urgent"], capture_output=True, timeout=60)
    assert code == 0, out[-3000:]
    logs = "".join(p.read_text() for p in (tmp / "submitit").rglob("*_log.out"))
    return record_where(results, status="finished"), preempted, job, logs, results


@pytest.fixture(scope="module")
def reference(tmp_path_factory, minilm_dir):
    """The uninterrupted run (plain process, same settings and threads) an interrupted job must reproduce."""
    tmp = tmp_path_factory.mktemp("reference")
    data, results = write_rte(tmp / "glue", n_train=40), tmp / "results"
    out = subprocess.run([sys.executable, "run.py", *short_run(minilm_dir, data, results, *PREEMPT)], cwd=ROOT,
                         env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return records(results)[0], logged_steps(results)


def expect_same_run(record: dict, results: Path, reference) -> None:
    ref_record, ref_steps = reference
    for key in ("status", "best", "final", "step", "params", "main_metric"):
        assert record[key] == ref_record[key], key
    assert record["curves"]["train_loss"] == ref_record["curves"]["train_loss"]  # per-step losses, exactly (CPU)
    steps = logged_steps(results)
    assert [e["step"] for e in steps] == list(range(1, STEPS + 1))  # each step once
    assert [e["loss"] for e in steps] == [e["loss"] for e in ref_steps]


def test_usr1_checkpoints_requeues_resumes_and_matches_an_uninterrupted_run(
        tmp_path, minilm_dir, partition, reference):
    record, preempted, job, logs, results = interrupt_and_follow(tmp_path, minilm_dir, partition, usr1_to_every_task)
    assert 0 < preempted["step"] < STEPS and preempted["error"] == f"signal SIGUSR1 at step {preempted['step']}"
    assert job_states(job) == ["REQUEUED", "COMPLETED"] and job_fields(job)["Restarts"] == "1"  # the run requeued it
    assert f"at step {preempted['step']}/{STEPS}" in logs  # the requeued job resumed from the checkpoint
    expect_same_run(record, results, reference)


def test_preemption_by_a_higher_priority_job_checkpoints_and_resumes(tmp_path, minilm_dir, partition, reference):
    record, preempted, job, logs, results = interrupt_and_follow(tmp_path, minilm_dir, partition,
                                                                 urgent_job_takes_the_node)
    assert preempted["error"] == f"signal SIGTERM at step {preempted['step']}"
    assert job_states(job) == ["PREEMPTED", "COMPLETED"] and job_fields(job)["Restarts"] == "1"  # SLURM requeued it
    assert f"at step {preempted['step']}/{STEPS}" in logs
    expect_same_run(record, results, reference)


def test_one_job_as_two_tasks_is_one_two_process_run_that_survives_preemption(tmp_path, minilm_dir, partition):
    # USR1 reaches task 1 only: both tasks must stop at the same step (a checkpoint is collective) and the
    # job must be requeued although rank 0, which writes the record and requeues, never saw the signal.
    record, preempted, job, logs, results = interrupt_and_follow(tmp_path, minilm_dir, partition,
                                                                 usr1_to_task_1_only, "slurm_2080ti", tasks=2)
    assert record["num_processes"] == 2 and preempted["num_processes"] == 2
    assert preempted["error"] == f"signal on another process at step {preempted['step']}"
    expect_preset_reached_sbatch("slurm_2080ti", job, tasks=2)
    assert job_states(job) == ["REQUEUED", "COMPLETED"]
    assert f"at step {preempted['step']}/{STEPS}" in logs
    assert [e["step"] for e in logged_steps(results)] == list(range(1, STEPS + 1))
    predictions = next(results.rglob("predictions_validation.jsonl"))
    assert len(predictions.read_text().splitlines()) == 10  # both processes' halves of the dev set, once


def test_a_cancelled_job_stays_cancelled_and_its_sweep_resumes_when_rerun(tmp_path, minilm_dir, partition, reference):
    """scancel sends SIGTERM too: the run checkpoints but must not requeue a job its user cancelled."""
    data, results = write_rte(tmp_path / "glue", n_train=40), tmp_path / "results"
    args = short_run(minilm_dir, data, results, *PREEMPT)
    name = f"dcft-test-cancel-{uuid.uuid4().hex[:8]}"
    with sweep(name, [*launcher("slurm_a800", partition, name, tmp_path / "submitit"), *args]) as proc:
        job = wait_for("the job to train", lambda: training_started(results) and job_ids(name), proc)[0]
        _sh("scancel", job)
        code, out = finish(proc)
    assert code != 0  # submitit reports the cancelled job
    preempted = wait_for("the preempted record", lambda: [r for r in records(results) if r["status"] == "preempted"],
                         None, 60)[0]  # submitit may see the cancel before the run has written its record
    assert preempted["error"] == f"signal SIGTERM at step {preempted['step']}" and preempted["last_checkpoint"]
    wait_for("the cancelled job's processes to end", lambda: not _sh("squeue", "-h", "-j", job).strip(), None, 60)
    assert job_fields(job)["JobState"] == "CANCELLED" and job_fields(job)["Restarts"] == "0"  # never requeued
    again = f"{name}-again"
    with sweep(again, [*launcher("slurm_a800", partition, again, tmp_path / "submitit"), *args]) as proc:
        code, out = finish(proc)  # the same sweep again: the cell resumes from its checkpoint
    assert code == 0, out[-3000:]
    logs = "".join(p.read_text() for p in (tmp_path / "submitit").rglob("*_log.out"))
    assert f"at step {preempted['step']}/{STEPS}" in logs
    expect_same_run(record_where(results, status="finished"), results, reference)


def test_time_limit_warning_from_slurmctld_checkpoints_requeues_and_resumes(tmp_path, minilm_dir, partition):
    """The real time-limit path: slurmctld itself sends USR1 signal_delay_s before the job's end."""
    data, results = write_rte(tmp_path / "glue", n_train=40), tmp_path / "results"
    name = f"dcft-test-timelimit-{uuid.uuid4().hex[:8]}"
    endless = ["trainer.max_steps=100000", "trainer.eval_steps=100000", "method=dcft", "kernel=4"]
    with sweep(name, [*launcher("slurm_a800", partition, name, tmp_path / "submitit"),
                      "hydra.launcher.signal_delay_s=90", *short_run(minilm_dir, data, results, *endless)]) as proc:
        job = wait_for("the job to train", lambda: training_started(results) and job_ids(name), proc)[0]
        ran = sum(int(x) * 60 ** i for i, x in enumerate(reversed(job_fields(job)["RunTime"].split(":"))))
        # 60 to 120 s left: the warning (90 s before the end, sent up to 30 s early) is due at slurmctld's next
        # time-limit check, at most 30 s away, and still comes well before the kill
        _sh("scontrol", "update", f"jobid={job}", f"timelimit={math.ceil((ran + 60) / 60)}")
        preempted = wait_for("the time-limit signal", lambda: [r for r in records(results)
                                                               if r["status"] == "preempted"], proc, timeout=120)[0]
        _sh("scontrol", "update", f"jobid={job}", "timelimit=1440")  # the requeued job gets a day again
        assert preempted["error"] == f"signal SIGUSR1 at step {preempted['step']}"
        resumed = f"at step {preempted['step']}/100000"
        wait_for("the resumed job", lambda: resumed in "".join(p.read_text() for p in
                                                               (tmp_path / "submitit").rglob("*_log.out")), proc)
        assert job_fields(job)["Restarts"] == "1"
        assert job_states(job, timeout=0)[0] == "REQUEUED"
        _sh("scancel", job)  # it would train 100000 steps
