"""SLURM task variables -> torch's distributed ones (no cluster needed: plain dicts)."""

import pytest

from dcft.slurm_tasks import export_torch_distributed_env, first_host

TASK_1_OF_2 = {"SLURM_JOB_ID": "41", "SLURM_PROCID": "1", "SLURM_LOCALID": "1", "SLURM_STEP_NUM_TASKS": "2",
               "SLURM_STEP_NUM_NODES": "1", "SLURM_STEP_NODELIST": "gpu[07-08]", "SLURM_NTASKS": "2"}


@pytest.mark.parametrize("nodelist, host", [("vm", "vm"), ("gpu[07-08]", "gpu07"), ("gpu[3,5],cpu1", "gpu3"),
                                            ("a800-n1,a800-n2", "a800-n1"), ("node-1[012-013]", "node-1012")])
def test_first_host_of_a_node_list(nodelist, host):
    assert first_host(nodelist) == host


def test_a_task_of_a_two_task_step_becomes_rank_1_of_2():
    env = dict(TASK_1_OF_2)
    assert export_torch_distributed_env(env)
    assert {k: env[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR")} == {
        "RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "gpu07"}
    other = dict(TASK_1_OF_2, SLURM_PROCID="0", SLURM_LOCALID="0")
    export_torch_distributed_env(other)
    assert other["MASTER_PORT"] == env["MASTER_PORT"]  # every task meets at the same port


@pytest.mark.parametrize("change", [
    {"SLURM_STEP_NUM_TASKS": "1"},  # one task: a plain single-process run
    {"SLURM_STEP_NUM_TASKS": None},  # the batch script itself (sbatch -n 2, python without srun)
    {"WORLD_SIZE": "4"},  # torchrun / accelerate launch inside the job already set it up
])
def test_left_alone_outside_a_multi_task_step(change):
    env = {k: v for k, v in {**TASK_1_OF_2, **change}.items() if v is not None}
    before = dict(env)
    assert not export_torch_distributed_env(env)
    assert env == before
