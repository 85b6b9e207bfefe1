"""Our own outputs: the per-model study summary (both rules, lr on the grid's edge, paired DCFT − LoRA and
DCFT − Full FT by seed), the param-matched table, and the params-vs-metric figure; all from hand-made records."""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass

import pytest
from conftest import write_rte
from record_fixtures import write_record

import dcft.methods as registry
import dcft.results.figures as figures
from dcft.methods import MethodEntry
from dcft.results import RecordIndex, build_param_matched, build_summary, load_records, render, to_csv, to_markdown
from dcft.results import summary as study
from dcft.results.chance import majority_class_scores
from dcft.results.columns import select_key
from dcft.results.plateau import Plateau, plateau, plateau_text

MODEL = "minilm"
# (tag, trainable) -> {lr: {seed: (best-step accuracy, final accuracy)}}
RTE = {
    ("dcft-d8-s8", 7488): {0.003: {1: (50.0, 49.0), 2: (52.0, 51.0), 3: (51.0, 50.0)},
                           0.01: {1: (56.0, 55.0), 2: (58.0, 50.0), 3: (57.0, 51.0)}},
    ("dcft-d2-s2", 20880): {0.01: {1: (54.0, 54.0), 2: (53.0, 53.0)}},
    ("lora-r1", 41472): {0.001: {1: (50.0, 50.0), 2: (51.0, 51.0), 3: (49.0, 49.0)},
                         0.003: {1: (53.0, 52.0), 2: (55.0, 52.0), 3: (54.0, 52.0)},
                         0.01: {1: (52.0, 53.0), 2: (52.0, 53.0), 3: (53.0, 53.0)}},
    ("full", 22565376): {1e-4: {1: (61.0, 60.0), 2: (59.0, 58.0)}, 3e-4: {1: (52.0, 52.0)}},
}


@pytest.fixture
def study_results(tmp_path):
    results = tmp_path / "results"
    for (tag, trainable), grid in RTE.items():
        for lr, seeds in grid.items():
            for seed, (best, final) in seeds.items():
                write_record(results, model=MODEL, task="rte", tag=tag, lr=lr, seed=seed, best=best, final=final,
                             trainable=trainable)
    return results


def line(summary, tag, task="rte"):
    return next(x for x in summary.lines if (x.task, x.tag) == (task, tag))


def test_summary_picks_the_lr_per_rule_and_flags_the_grids_edge(study_results):
    s = build_summary(RecordIndex(load_records(study_results)), MODEL)
    d8, lora, d2 = line(s, "dcft-d8-s8"), line(s, "lora-r1"), line(s, "dcft-d2-s2")
    assert d8.by_rule["best"].lr == 0.01 and d8.by_rule["best"].edge == "highest"
    assert d8.by_rule["final"].lr == 0.01 and d8.by_rule["final"].stat("accuracy", "final", "mean").value == 52.0
    assert lora.by_rule["best"].lr == 0.003 and lora.by_rule["best"].edge is None  # interior of three lrs
    assert lora.by_rule["final"].lr == 0.01 and lora.by_rule["final"].edge == "highest"
    assert study.lr_text(d2.by_rule["best"]) == "0.01 (only lr)"
    md = study.to_markdown(s)
    assert ("| RTE | `dcft-d8-s8` | released-0a1b2c3d | 0.007M (7,488) | 0.003, 0.01 | 0.01 (highest of 2) | "
            "57.00 ± 1.00 (n=3) | 0.01 (highest of 2) | 52.00 ± 2.65 (n=3) |") in md
    lora_line = ("| RTE | `lora-r1` | released-0a1b2c3d | 0.040M (41,472) | 0.001, 0.003, 0.01 | 0.003 | "
                 "54.00 ± 1.00 (n=3) |")
    assert lora_line in md


def test_lrs_are_compared_on_the_seeds_they_share(tmp_path):
    """Seeds 2 and 3 added at the winner do not hand the choice to a neighbour's single lucky run: the lrs are
    compared on seed 1, and the winner is reported over all three of its seeds."""
    for seed, best in ((1, 85.95), (2, 85.63), (3, 85.85)):
        write_record(tmp_path, model=MODEL, task="stsb", tag="lora-r1", lr=1e-3, seed=seed, best=best)
    write_record(tmp_path, model=MODEL, task="stsb", tag="lora-r1", lr=3e-4, seed=1, best=83.40)
    write_record(tmp_path, model=MODEL, task="stsb", tag="lora-r1", lr=3e-3, seed=1, best=85.87)  # > 3-seed mean
    write_record(tmp_path, model=MODEL, task="stsb", tag="lora-r1", lr=1e-2, seed=1, best=5.5)
    sel = line(build_summary(RecordIndex(load_records(tmp_path)), MODEL), "lora-r1", "stsb").by_rule["best"]
    assert sel.lr == 1e-3 and sel.edge is None
    assert sel.stat(select_key("stsb"), "best", "mean").value == pytest.approx(statistics.fmean([85.95, 85.63, 85.85]))


def test_paired_difference_by_seed_at_each_methods_chosen_lr(study_results):
    for seed, best in ((1, 45.0), (2, 47.0), (3, 46.0)):  # C3A, a rival at DCFT's size
        write_record(study_results, model=MODEL, task="rte", tag="c3a-bmax", lr=0.03, seed=seed, best=best,
                     trainable=6912)
    s = build_summary(RecordIndex(load_records(study_results)), MODEL)
    pairs = {(p.compared, p.reference): p for p in s.paired}
    d8 = pairs[("dcft-d8-s8", "lora-r1")]
    best = [RTE[("dcft-d8-s8", 7488)][0.01][k][0] - RTE[("lora-r1", 41472)][0.003][k][0] for k in (1, 2, 3)]
    final = [RTE[("dcft-d8-s8", 7488)][0.01][k][1] - RTE[("lora-r1", 41472)][0.01][k][1] for k in (1, 2, 3)]
    assert (d8.by_rule["best"].value, d8.by_rule["best"].std, d8.by_rule["best"].n) == (
        statistics.fmean(best), statistics.stdev(best), 3)
    assert d8.by_rule["final"].value == pytest.approx(statistics.fmean(final))
    d2 = pairs[("dcft-d2-s2", "lora-r1")]  # d=2 has seeds 1 and 2 only: two pairs
    assert d2.by_rule["best"].n == 2 and d2.by_rule["best"].value == pytest.approx(((54 - 53) + (53 - 55)) / 2)
    md = study.to_markdown(s)
    assert f"| RTE | `dcft-d8-s8` − `lora-r1` | accuracy | +3.00 ± {statistics.stdev(best):.2f} (n=3) |" in md
    vs_full = pairs[("dcft-d8-s8", "full")]  # Full FT at its winner 1e-4, seeds 1 and 2
    assert vs_full.by_rule["best"].n == 2
    assert vs_full.by_rule["best"].value == pytest.approx(((56 - 61) + (58 - 59)) / 2)
    assert "| RTE | `dcft-d8-s8` − `full` | accuracy | -3.00 ± 2.83 (n=2) |" in md
    vs_c3a = pairs[("dcft-d8-s8", "c3a-bmax")]  # a rival at DCFT's size; FourierFT has no records: no pair
    assert vs_c3a.by_rule["best"].value == pytest.approx(((56 - 45) + (58 - 47) + (57 - 46)) / 3)
    assert not any(p.reference.startswith("fourierft") for p in s.paired)
    rows = list(csv.DictReader(io.StringIO(study.paired_csv(s))))
    assert {(r["compared"], r["reference"], r["rule"], r["n_pairs"]) for r in rows} == {
        ("dcft-d8-s8", "lora-r1", "best", "3"), ("dcft-d8-s8", "lora-r1", "final", "3"),
        ("dcft-d2-s2", "lora-r1", "best", "2"), ("dcft-d2-s2", "lora-r1", "final", "2"),
        ("dcft-d8-s8", "full", "best", "2"), ("dcft-d8-s8", "full", "final", "2"),
        ("dcft-d8-s8", "c3a-bmax", "best", "3"), ("dcft-d8-s8", "c3a-bmax", "final", "3")}


def test_summary_shows_mnli_mismatched_at_the_best_step_and_at_the_end(tmp_path):
    write_record(tmp_path, model=MODEL, task="mnli", tag="lora-r1", best=80.0,
                 metrics={"validation_mismatched_accuracy": 79.0},
                 final_metrics={"validation_matched_accuracy": 78.0, "validation_mismatched_accuracy": 81.0})
    s = build_summary(RecordIndex(load_records(tmp_path)), MODEL)
    md = study.to_markdown(s)
    assert "| m 80.00 (n=1); mm 79.00 (n=1) | 0.0012 (only lr) | m 78.00 (n=1); mm 81.00 (n=1) |" in md
    rows = list(csv.DictReader(io.StringIO(study.to_csv(s))))
    mm = {r["rule"]: r["mean"] for r in rows if r["metric"] == "validation_mismatched_accuracy"}
    assert mm == {"best": "79.0000", "final": "81.0000"}


def test_an_lr_that_diverged_is_part_of_the_grid_not_its_winner(study_results):
    """DCFT's 0.01 won among its finished lrs, but 0.03 was tried and diverged: 0.01 is not on the grid's edge."""
    write_record(study_results, model=MODEL, task="rte", tag="dcft-d8-s8", lr=0.03, seed=1, best=None,
                 status="diverged", trainable=7488)
    d8 = line(build_summary(RecordIndex(load_records(study_results)), MODEL), "dcft-d8-s8").by_rule["best"]
    assert d8.lr == 0.01 and d8.lrs == (0.003, 0.01) and d8.diverged_lrs == (0.03,) and d8.edge is None
    assert d8.lr_text() == "lr 0.01 won (tried 0.003, 0.01, 0.03 (diverged))"
    md = study.to_markdown(build_summary(RecordIndex(load_records(study_results)), MODEL))
    assert "| 0.003, 0.01, 0.03 (diverged) | 0.01 | 57.00 ± 1.00 (n=3) |" in md


def test_summary_lists_other_settings_groups(tmp_path):
    write_record(tmp_path, model=MODEL, tag="lora-r1", seed=1, best=60.0, settings_id="released-11111111")
    write_record(tmp_path, model=MODEL, tag="lora-r1", seed=2, best=61.0, settings_id="released-11111111")
    write_record(tmp_path, model=MODEL, tag="lora-r1", seed=1, best=40.0, settings_id="released-22222222",
                 computing={"trainer.epochs": 1})
    s = build_summary(RecordIndex(load_records(tmp_path)), MODEL)
    assert line(s, "lora-r1").by_rule["best"].stat("accuracy", "best", "mean").value == 60.5
    (note,) = s.settings_notes
    assert note.startswith("RTE / `lora-r1`: shows released-11111111 (released set; 2 finished); not shown: "
                           "released-22222222 (released set; 1 finished); differs: ")
    assert "trainer.epochs: 50 -> 1" in note


def test_param_matched_table_from_records_only(study_results, monkeypatch):
    @dataclass
    class C3ASettings:
        block: int = 256

        def tag(self) -> str:
            return f"c3a-b{self.block}"

    monkeypatch.setitem(registry.METHODS, "c3a", MethodEntry(C3ASettings, "unused:apply"))
    write_record(study_results, model=MODEL, task="rte", tag="c3a-b256", best=55.5, trainable=9216)
    write_record(study_results, model=MODEL, task="stsb", tag="fourierft-n1000", method="fourierft", best=80.0,
                 trainable=12000)
    write_record(study_results, model=MODEL, task="cola", tag="adalora-r2-t1", method="adalora", best=40.0)
    t = build_param_matched(load_records(study_results))
    assert t.layout.tasks == ("stsb", "rte") and [b.runs_model for b in t.blocks] == [MODEL]
    assert [r.label for r in t.blocks[0].rows] == ["DCFT (d=8)", "DCFT (d=2)", "LoRA (r=1)", "C3A", "FourierFT",
                                                   "fourierft-n1000"]  # a tag the rows do not name: its own row
    md = to_markdown(t)
    assert "| Method | #Params | STS-B | RTE |" in md and "/ 8" not in md  # no paper column
    assert "| C3A | 0.009M (9,216) | — | 55.50 (n=1) |" in md
    assert "| fourierft-n1000 | 0.011M (12,000) | 80.00 (n=1) | — |" in md
    assert "| DCFT (d=8) | 0.007M (7,488) | — | 57.00 ± 1.00 (n=3) |" in md
    assert "python run.py -m model=minilm task=stsb method=c3a seed=1,2,3" in t.commands
    assert any("method=fourierft " in c for c in t.commands)  # the registered row's missing cells
    assert not any("1000" in c for c in t.commands)  # the row found only in the records: no options to suggest
    rows = list(csv.DictReader(io.StringIO(to_csv(t))))
    c3a = next(r for r in rows if r["method_tag"] == "c3a-b256" and r["task"] == "rte")
    assert (c3a["table"], c3a["params_count"], c3a["value"], c3a["paper"]) == ("param_matched", "9216", "55.5000", "")


def test_render_writes_summary_matched_table_and_figure_deterministically(study_results, tmp_path):
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    written = render(study_results, out_a)
    render(study_results, out_b)
    names = {str(p.relative_to(out_a)) for p in written}
    assert {"tables/summary_minilm.md", "tables/summary_minilm.csv", "tables/summary_minilm_paired.csv",
            "tables/param_matched.md", "tables/param_matched.tex", "tables/param_matched.csv",
            "figures/params_vs_metric_minilm.png", "figures/params_vs_metric_minilm.pdf"} <= names
    for p in written:
        assert (out_b / p.relative_to(out_a)).read_bytes() == p.read_bytes(), p
    assert (out_a / "figures" / "params_vs_metric_minilm.png").stat().st_size > 5000
    readme = (out_a / "tables" / "README.md").read_text()
    assert "Study summary of minilm: [md](summary_minilm.md)" in readme and "params_vs_metric_minilm" in readme
    assert "lr 0.01 won (tried 0.003, 0.01; highest tried" in (out_a / "tables" / "table4.md").read_text()
    rows = list(csv.DictReader((out_a / "tables" / "table4.csv").open()))
    assert {r["lr_edge"] for r in rows if r["method_tag"] == "dcft-d8-s8" and r["column"] == "RTE"
            and r["runs_model"] == MODEL} == {"highest"}


def test_a_full_render_removes_the_summary_and_figure_of_a_model_whose_records_are_gone(study_results, tmp_path):
    out = tmp_path / "out"
    render(study_results, out)
    mine = out / "tables" / "my_notes.md"  # not a name the renderer owns: never touched
    mine.write_text("keep me")
    render(tmp_path / "no-records", out, model="minilm", figures=False)  # one model asked for: nothing removed
    assert (out / "tables" / "summary_minilm.md").exists()
    render(tmp_path / "no-records", out)
    assert not list((out / "tables").glob("summary_*")) and not list((out / "figures").glob("params_vs_metric_*"))
    assert mine.read_text() == "keep me" and (out / "tables" / "table1.md").exists()


def test_figures_2_and_3_show_the_paper_model_or_else_a_model_that_has_runs(study_results):
    from dcft.results.figures import figure_model

    index = RecordIndex(load_records(study_results))
    assert figure_model(index) == MODEL and figure_model(index, "roberta-large") == "roberta-large"
    write_record(study_results, model="deberta-v3-base", tag="lora-r1", best=80.0)
    assert figure_model(RecordIndex(load_records(study_results))) == "deberta-v3-base"


def test_plateau_check_compares_the_mean_of_the_last_third_with_the_middle_third(tmp_path):
    def curve(*points):  # (step, accuracy) of a 600-step run: middle third (200, 400], last third > 400
        return {"eval": [[step, {"accuracy": value}] for step, value in points]}

    results = tmp_path / "results"
    runs = {
        ("dcft-d8-s8", 1): curve((100, 40.0), (200, 50.0), (300, 52.0), (400, 54.0), (500, 57.0), (600, 58.0)),
        # noisy but flat: one lucky evaluation late (61) would fail a max-based check; the means agree
        ("lora-r1", 1): curve((200, 50.0), (300, 58.0), (400, 60.0), (500, 61.0), (600, 57.0)),
        ("lora-r1", 2): curve((200, 50.0), (300, 59.9), (400, 60.0), (600, 60.0)),
    }
    for (tag, seed), curves in runs.items():
        write_record(results, model=MODEL, tag=tag, lr=0.01, seed=seed, best=60.0, curves=curves, total_steps=600)
    write_record(results, model=MODEL, tag="c3a-bmax", lr=0.01, seed=1, best=60.0, total_steps=600,
                 curves=curve((100, 50.0), (500, 60.0)))  # nothing in the middle third: no verdict
    records = {(r["method_tag"], r["seed"]): r for r in load_records(results)}
    assert plateau(records["dcft-d8-s8", 1], "accuracy") == Plateau(
        gain=pytest.approx(4.5), shortfall=0.0, late_mean=57.5)
    assert plateau(records["lora-r1", 1], "accuracy") == Plateau(gain=0.0, shortfall=0.0, late_mean=59.0)
    assert plateau(records["lora-r1", 1], "mcc") is None
    assert plateau(records["c3a-bmax", 1], "accuracy") is None
    assert plateau_text([records["dcft-d8-s8", 1]], "accuracy") == "no (+4.50 in the last third)"
    md = study.to_markdown(build_summary(RecordIndex(load_records(results)), MODEL))
    lora_row = next(x for x in md.splitlines() if x.startswith("| RTE | `lora-r1`"))
    assert lora_row.endswith("| yes (+0.05) |")  # the larger gain of lora's two seeds: 0.0 and 0.05
    write_record(results, model=MODEL, tag="lora-r1", lr=0.01, seed=3, best=61.0, total_steps=600,
                 curves=curve((300, 61.0), (600, 59.0)))
    md = study.to_markdown(build_summary(RecordIndex(load_records(results)), MODEL))
    # a passing peak: long enough (it declined: gain -2), but the final rule reads 2 points below the best step
    assert "| yes (+0.05; 2.00 below its best at the end) |" in md
    assert plateau_text([records["lora-r1", 1] | {"curves": curve((300, 61.0), (600, 59.0))}], "accuracy") == (
        "yes (-2.00; 2.00 below its best at the end)")
    rows = list(csv.DictReader(io.StringIO(study.to_csv(build_summary(RecordIndex(load_records(results)), MODEL)))))
    assert ("lora-r1", "best", "0.0500", "2.0000") in {
        (r["method_tag"], r["rule"], r["plateau_gain"], r["plateau_shortfall"]) for r in rows}
    assert ("dcft-d8-s8", "best", "4.5000", "0.0000") in {
        (r["method_tag"], r["rule"], r["plateau_gain"], r["plateau_shortfall"]) for r in rows}


def test_summary_reports_each_schedule_check_beside_the_run_it_doubles(tmp_path):
    """`make tables` reads the doubling checks from `<results>/<model>/schedule-check` (never from `runs/`, so
    Table 1 and the summary rows stay the study's) and sets each beside the study's run of the same cell with
    half its steps: best, final, last third's mean, and the last-third gain of both."""
    def curve(total, values):  # evaluations evenly spaced over the run
        step = total // len(values)
        return {"eval": [[step * (i + 1), {"accuracy": v}] for i, v in enumerate(values)]}

    results = tmp_path / "results"
    write_record(results, model=MODEL, tag="dcft-d8-s8", lr=0.01, seed=1, best=58.0, final=57.0, total_steps=600,
                 curves=curve(600, [40, 50, 52, 54, 57, 58]))
    checks = results / MODEL / "schedule-check"
    write_record(checks, model=MODEL, tag="dcft-d8-s8", lr=0.01, seed=1, best=59.5, final=59.0, total_steps=1200,
                 settings_id="released-doubled", curves=curve(1200, [40, 50, 55, 57, 58, 59, 59, 58, 59, 59.5,
                                                                     59, 59]))
    write_record(checks, model=MODEL, tag="lora-r1", lr=0.001, seed=1, best=60.0, total_steps=1200,
                 settings_id="released-doubled")  # its study run is gone: shown with dashes
    out = tmp_path / "out"
    render(results, out, figures=False)
    md = (out / "tables" / "summary_minilm.md").read_text()
    assert "## Schedule checks" in md
    assert ("| RTE | `dcft-d8-s8` | 0.01 | 1 | 600 → 1,200 | 58.00 → 59.50 (+1.50) | 57.00 → 59.00 (+2.00) "
            "| 57.50 → 59.12 (+1.62) | +4.50 → +0.62 |") in md
    assert "| RTE | `lora-r1` | 0.001 | 1 | — → 1,200 | — → 60.00 |" in md
    rows = [x for x in md.splitlines() if x.startswith("| RTE | `")]
    assert len(rows) == 3  # the study's one row (the doubled runs add none) and two checks
    assert "59.50" not in (out / "tables" / "table1.md").read_text()


@pytest.mark.parametrize(("params", "labels"), [
    ((7488, 22565376), ["10K", "100K", "1M", "10M"]),  # DCFT beside Full FT: decades only, or the labels collide
    ((7488, 41472), ["10K", "20K", "50K"]),  # within a decade or so: 1, 2, 5 per decade
])
def test_params_axis_labels_stay_readable(tmp_path, params, labels):
    for tag, trainable in zip(("dcft-d8-s8", "full"), params, strict=True):
        write_record(tmp_path, model=MODEL, task="rte", tag=tag, lr=1e-3, seed=1, best=60.0, trainable=trainable)
    summary = build_summary(RecordIndex(load_records(tmp_path)), MODEL)
    fig = figures._params_vs_metric(summary, "best")
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    shown = [t.get_text() for t, x in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True) if low <= x <= high]
    assert shown == labels


def test_majority_class_floor_is_the_train_majority_scored_on_dev(tmp_path):
    from sklearn.metrics import accuracy_score

    train = ["not_entailment"] * 5 + ["entailment"] * 3  # train's majority is dev's minority (4 of 10)
    dev = ["entailment", "not_entailment"] * 2 + ["entailment"] * 4 + ["not_entailment"] * 2
    write_rte(tmp_path, labels={"train": train, "dev": dev})
    floors = majority_class_scores(["rte", "stsb", "cola", "squad"], tmp_path)  # no STS-B/CoLA files, no GLUE squad
    assert floors == {"rte": pytest.approx(100 * accuracy_score(dev, ["not_entailment"] * len(dev)))}
    assert floors["rte"] == pytest.approx(40.0) and majority_class_scores(["rte"], None) == {}


def test_majority_class_floor_of_the_shipped_data(real_glue):
    from sklearn.metrics import matthews_corrcoef

    def labels(folder, split, column, header):
        with open(real_glue / folder / f"{split}.tsv", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[header:]
        return [row[column] for row in rows]

    floors = majority_class_scores(["rte", "cola", "stsb"], real_glue)
    assert sorted(floors) == ["cola", "rte"]  # STS-B is a regression: a constant has no correlation
    rte_train, rte_dev = labels("RTE", "train", -1, 1), labels("RTE", "dev", -1, 1)
    top = max(set(rte_train), key=rte_train.count)
    assert floors["rte"] == pytest.approx(100 * rte_dev.count(top) / len(rte_dev))
    cola_train, cola_dev = labels("CoLA", "train", 1, 0), labels("CoLA", "dev", 1, 0)
    top = max(set(cola_train), key=cola_train.count)
    assert floors["cola"] == pytest.approx(100 * matthews_corrcoef(cola_dev, [top] * len(cola_dev)))


def test_summary_and_params_figure_show_the_majority_floor(study_results, tmp_path):
    write_rte(tmp_path / "glue", labels={"train": ["entailment"] * 3 + ["not_entailment"],
                                         "dev": ["entailment"] * 3 + ["not_entailment"] * 5})
    render(study_results, tmp_path / "out", data_dir=tmp_path / "glue", figures=False)
    text = (tmp_path / "out" / "tables" / "summary_minilm.md").read_text()
    assert "scored like the runs; a run at or near it has learnt nothing): RTE 37.50." in text
    render(study_results, tmp_path / "plain", figures=False)
    assert "Majority class" not in (tmp_path / "plain" / "tables" / "summary_minilm.md").read_text()

    summary = build_summary(RecordIndex(load_records(study_results)), MODEL, majority={"rte": 37.5, "cola": 0.0})
    assert summary.majority == {"rte": 37.5}  # only the tasks the summary shows
    ax = figures._params_vs_metric(summary, "best").axes[0]
    dashed = [x for x in ax.get_lines() if x.get_linestyle() == "--"]
    assert [x.get_label() for x in dashed] == [figures.MAJORITY_LABEL] and list(dashed[0].get_ydata()) == [37.5, 37.5]
    assert ax.get_ylim()[0] < 37.5  # the floor is inside the panel even below every point
