"""A real fine-tune: one cell of the MiniLM study (the packaged pretrained MiniLM, real STS-B, DCFT d=8 on CPU)
reproduces the study's committed record for that cell (`make demo` runs the same cell)."""

import pytest
from conftest import ROOT, compose_and_run

from dcft.paths import record_path
from dcft.run_record import read_record

STUDY_CELL = ["+experiment=minilm_study", "task=stsb", "method=dcft_d8", "lr_x=10", "logger=none"]
# A record repeats to the last digit only on a CPU whose kernels sum as the recording machine's did: the study's
# session machines did not all (results/minilm/README.md, "Reproducing a record"). Elsewhere the first steps move
# by a float32 ulp, the first evaluation still agrees to a thousandth, and the run at lr 1e-2 becomes a fresh draw
# of float noise: this cell's record has 85.96, its rerun on CI's kind of machine 84.46 (seeds 1-3 there: 84.46,
# 85.17, 84.68; in the records: 85.96, 85.78, 85.48). 2.5 points leave room for such a draw and still fail a change
# that costs learning (the grid's lr 1e-3 reached 84.74, a constant prediction 0).
FIRST_EVAL_TOLERANCE, BEST_TOLERANCE = 0.5, 2.5


@pytest.mark.slow
def test_a_study_cell_reproduces_its_committed_record(tmp_path, real_glue):
    # one thread, as the committed record was made: two threads sum the gradients in another order
    overrides = [*STUDY_CELL, "trainer.threads=1", f"results_dir={tmp_path}", f"data.dir={real_glue}"]
    _, cfg = compose_and_run(overrides)
    record = read_record(record_path(tmp_path, cfg.cell.path))  # both sides read back from JSON: comparable
    committed = read_record(record_path(ROOT / "results", cfg.cell.path))
    assert committed is not None, f"the study's record of this cell is not committed: {cfg.cell.path}"
    assert record["status"] == committed["status"] == "finished" and record["params"]["trainable"] == 7488
    (step, ours_first), (committed_step, theirs_first) = record["curves"]["eval"][0], committed["curves"]["eval"][0]
    assert step == committed_step
    if ours_first == theirs_first:  # 90 steps and an evaluation bit-identical: the same arithmetic, the same run
        assert record["curves"] == committed["curves"] and record["best"] == committed["best"]
    ours, theirs = record["best"]["metrics"]["pearson"], committed["best"]["metrics"]["pearson"]
    assert abs(ours_first["pearson"] - theirs_first["pearson"]) < FIRST_EVAL_TOLERANCE, (ours_first, theirs_first)
    assert abs(ours - theirs) < BEST_TOLERANCE, (ours, theirs)
    assert ours > 83  # a constant prediction has no correlation: this is learning, not noise
