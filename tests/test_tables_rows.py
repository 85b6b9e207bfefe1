"""What each table row and block shows: settings groups never mixed, every model with records gets a block,
row labels and options per paper model, the notes, and rows of methods the registry may or may not know."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from record_fixtures import BASE, COMPUTING, write_record

import dcft.methods as registry
from dcft.methods import MethodEntry, method_tag
from dcft.results import LAYOUTS, build_tables, load_paper, load_records, render, to_csv, to_markdown
from dcft.results.layouts import PARAM_MATCHED_ROWS


def table(records, number: int, **kw):
    (built,) = build_tables(records, layouts=[LAYOUTS[number - 1]], **kw)
    return built


def block(t, runs_model: str):
    return next(b for b in t.blocks if b.runs_model == runs_model)


def row(t, label: str, runs_model: str = BASE):
    return next(r for r in block(t, runs_model).rows if r.label == label)


def cell(t, label: str, column: str, runs_model: str = BASE):
    return next(c for c in row(t, label, runs_model).cells if c.column.label == column)


# ---- settings groups ---------------------------------------------------------------------------------
def test_runs_with_different_settings_are_never_averaged_together(tmp_path):
    long_run = {**COMPUTING, "trainer.epochs": 50}
    short_run = {**COMPUTING, "trainer.epochs": 1, "data.max_train_samples": 2000}
    for seed, v in ((1, 80.0), (2, 82.0), (3, 84.0)):
        write_record(tmp_path, seed=seed, best=v, settings_id="released-11111111", computing=long_run)
    for seed, v in ((1, 60.0), (2, 62.0)):
        write_record(tmp_path, seed=seed, best=v, settings_id="released-00000000", computing=short_run)
    t4 = table(load_records(tmp_path), 4)
    rte = cell(t4, "DCFT (d=8)", "RTE")
    assert (rte.ours.value, rte.ours.std, rte.ours.n) == (82.0, 2.0, 3)  # the three long runs only
    assert rte.selection.group.settings_id == "released-11111111"
    (note,) = t4.settings_notes
    assert note == (
        "deberta-v3-base / RTE / DCFT (d=8) (`dcft-d8-s8`): shows released-11111111 (released set; 3 finished); "
        "not shown: released-00000000 (released set; 2 finished); differs: data.max_train_samples: None -> 2000, "
        "trainer.epochs: 50 -> 1"
    )
    assert "Hyper-parameter set: deberta-v3-base: released." in t4.caption
    md = to_markdown(t4)
    assert "## Runs with other settings (not shown)" in md and note in md
    row_csv = next(line for line in to_csv(t4).splitlines() if ",RTE,accuracy," in line and "dcft-d8-s8" in line)
    assert ",released-11111111,released,rte," in row_csv and ",82.0000,2.0000,3," in row_csv


def test_settings_group_ties_go_to_the_newest_record_format_then_the_smallest_id(tmp_path):
    write_record(tmp_path, seed=1, best=70.0, schema=1)  # old record, no settings id
    write_record(tmp_path, seed=1, best=80.0, settings_id="released-bbbbbbbb")
    write_record(tmp_path, seed=1, best=90.0, settings_id="released-aaaaaaaa")
    sel = cell(table(load_records(tmp_path), 4), "DCFT (d=8)", "RTE").selection
    assert sel.group.settings_id == "released-aaaaaaaa" and sel.stat("accuracy", "best", "mean").value == 90.0
    assert [g.settings_id for g in sel.others] == ["released-bbbbbbbb", None]
    assert sel.others[1].name == "no settings id (schema-1 records)"
    # two finished runs beat one, whatever their format
    write_record(tmp_path, seed=2, best=72.0, schema=1)
    sel = cell(table(load_records(tmp_path), 4), "DCFT (d=8)", "RTE").selection
    assert sel.group.settings_id is None and sel.stat("accuracy", "best", "mean").value == 71.0


def test_hparams_set_option_shows_only_that_sets_runs_and_names_it(tmp_path):
    for seed in (1, 2):
        write_record(tmp_path, seed=seed, best=80.0, settings_id="released-11111111")
    write_record(tmp_path, seed=1, best=70.0, settings_id="paper-22222222", hparams_set="paper")
    default = table(load_records(tmp_path), 4)
    assert cell(default, "DCFT (d=8)", "RTE").ours.value == 80.0
    paper_only = table(load_records(tmp_path), 4, hparams_set="paper")
    rte = cell(paper_only, "DCFT (d=8)", "RTE")
    assert rte.ours.value == 70.0 and rte.selection.group.settings_id == "paper-22222222"
    assert "Hyper-parameter set: deberta-v3-base: paper." in paper_only.caption
    # the block's runs used the paper set: commands that fill its other cells ask for it
    assert "python run.py model=deberta-v3-base task=cola hparams_set=paper method=dcft kernel=8 stride=8 seed=1" in (
        paper_only.commands
    )
    assert not any("hparams_set" in c for c in default.commands)


def test_unknown_hparams_set_is_a_one_line_error(tmp_path, capsys):
    import runpy

    write_record(tmp_path / "results", best=80.0)
    main = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "tables.py"))["main"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--results-dir", str(tmp_path / "results"), "--out", str(tmp_path / "out"), "--hparams-set", "papr"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("--hparams-set 'papr': no record was made with it; the records hold released")


# ---- blocks: every model with records ----------------------------------------------------------------
def test_plain_render_shows_every_model_with_records_paper_models_first(tmp_path):
    results = tmp_path / "results"
    write_record(results, model="minilm", task="rte", tag="lora-r1", best=61.0, trainable=41472)
    write_record(results, model="minilm", task="stsb", tag="dcft-d2-s2", best=70.0)
    render(results, tmp_path / "out", figures=False)
    tables = tmp_path / "out" / "tables"
    t1 = (tables / "table1.md").read_text()
    heads = [line for line in t1.splitlines() if line.startswith("## runs:")]
    assert heads == ["## runs: deberta-v3-base; paper: deberta-v3-base", "## runs: roberta-large; paper: roberta-large",
                     "## runs: minilm (not a paper model); paper: deberta-v3-base"]
    assert "| LoRA (r=1) | 0.040M / 0.17M |" in t1 and "61.00 (n=1) / 81.29 (-20.29)" in t1
    assert "## runs: minilm" not in (tables / "table3.md").read_text()  # no SQuAD record: no block
    readme = (tables / "README.md").read_text()
    assert "Generated by `python scripts/tables.py` from" in readme
    assert "| 1 | GLUE dev results of DCFT and baselines | runs: minilm (not a paper model); paper: deberta-v3-base |" \
        in readme


# ---- rows per paper model, labels and notes ----------------------------------------------------------
def test_lora_row_runs_the_paper_models_own_setting(tmp_path):
    write_record(tmp_path, model="roberta-large", task="rte", tag="lora-r8-qv", best=86.0, trainable=786432)
    write_record(tmp_path, model="roberta-large", task="rte", tag="lora-r1", best=99.0)  # not the paper's LoRA
    t1 = table(load_records(tmp_path), 1)
    lora = row(t1, "LoRA (r=8, Q,V)", "roberta-large")
    assert lora.method.tag == method_tag("lora", {"r": 8, "targets": "qv"}) == "lora-r8-qv"
    assert lora.params == "0.750M" and cell(t1, "LoRA (r=8, Q,V)", "RTE", "roberta-large").ours.value == 86.0
    assert row(t1, "LoRA (r=1)").method.tag == "lora-r1"  # DeBERTaV3-base: rank one on all six groups
    assert [r.label for r in block(table([], 2), "deberta-v2-xxlarge").rows][1] == "LoRA (r=16, Q,V)"
    assert "| LoRA (r=8, Q,V) | 0.750M / 0.8M |" in to_markdown(t1)  # binary M; the paper's LoRA count is decimal


def test_row_tags_come_from_the_method_registry(monkeypatch):
    """Layouts do not spell tags: change how the registry names DCFT and every DCFT row follows."""

    @dataclass
    class Renamed(registry.settings.DCFTSettings):
        def tag(self) -> str:
            return f"deconv-{self.kernel}x{self.stride}-{self.targets}"

    monkeypatch.setitem(registry.METHODS, "dcft", MethodEntry(Renamed, "unused:apply"))
    t6 = table([], 6)
    assert [r.method.tag for r in block(t6, BASE).rows] == [
        "deconv-8x8-qk", "deconv-8x8-qv", "deconv-8x8-qkv", "deconv-8x8-qkvo_paper", "deconv-8x8-all"]
    assert all(m.tag.startswith("deconv-") for m in PARAM_MATCHED_ROWS[:2])


def test_roberta_large_mnli_shows_one_number_and_the_papers_average(tmp_path):
    """RoBERTa-large: the paper prints matched accuracy only; our mm is not shown there and the Avg takes MNLI = m.
    Feeding the paper's own LoRA row back gives its Avg (88.51)."""
    paper = load_paper()
    for task in ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"):
        metric = {"cola": "mcc", "stsb": "pearson", "mnli": "acc_m/acc_mm"}.get(task, "acc")
        value = paper.value(1, "roberta-large", "lora", task, metric)
        extra = {"validation_mismatched_accuracy": 50.0} if task == "mnli" else None
        write_record(tmp_path, model="roberta-large", task=task, tag="lora-r8-qv", best=value, metrics=extra)
    t1 = table(load_records(tmp_path), 1)
    assert cell(t1, "LoRA (r=8, Q,V)", "MNLI mm", "roberta-large").status == "hidden"
    avg = cell(t1, "LoRA (r=8, Q,V)", "Avg", "roberta-large")
    assert round(avg.ours.value, 4) == 88.5125 and avg.paper == 88.51
    line = next(x for x in to_markdown(t1).splitlines() if x.startswith("| LoRA (r=8, Q,V)"))
    assert "| 90.00 (n=1) / 90.00 (+0.00) |  | 94.40 (n=1) / 94.40 (+0.00) |" in line and "50.00" not in line
    assert "| 88.51 / 88.51 (+0.00) |" in line


def test_table_notes_say_what_the_paper_leaves_open(tmp_path):
    paper = load_paper()
    of = lambda method: {(r.task, r.metric): (r.value, r.params) for r in paper.rows  # noqa: E731
                         if (r.table, r.model, r.method) == (1, BASE, method)}
    sora, lora_fa = of("sora"), of("lora-fa")
    assert sora == lora_fa and len(sora) == 9  # the note below is true of the packaged paper numbers
    t1, t3, t4, t6 = (table([], n) for n in (1, 3, 4, 6))
    assert any("LoRA-FA row is a byte copy of its SoRA row" in n for n in t1.notes)
    assert any("MNLI mm is the mismatched accuracy at the step the reporting rule picks" in n for n in t1.notes)
    assert any("18,816" in n and "qkvo_ffnin" in n and "`layer.output`" in n for n in t6.notes)
    assert any("d=2 is inferred from its 0.04%" in n for n in t3.notes)
    # printed Avgs that are not the mean of the paper's own row are named, from the numbers themselves
    assert "roberta-large / DCFT† (d=2, best): the paper's Avg 89.31 is not the mean of its printed row (89.450)" \
        in "\n".join(t1.notes)
    assert any("DCFT (d=8): the paper's Avg h 3.16" in n for n in t4.notes)
    assert not any("DCFT (d=2): the paper's Avg" in n for n in t4.notes)
    md = to_markdown(t6)
    assert "## Notes" in md and "18,816 fits Q,K,V,O + FFN-out and Q,K,V,O + FFN-in equally" in md


def test_squad_v2_shows_exact_match_and_f1(tmp_path):
    write_record(tmp_path, task="squad_v2", tag="dcft-d2-s2", best=87.5, metrics={"exact_match": 84.25})
    t3 = table(load_records(tmp_path), 3)
    em, f1 = cell(t3, "DCFT (d=2)", "SQuAD v2.0 EM"), cell(t3, "DCFT (d=2)", "SQuAD v2.0 F1")
    assert (em.ours.value, f1.ours.value) == (84.25, 87.5)
    assert "| 84.25 (n=1) / 84.70 (-0.45) | 87.50 (n=1) / 87.70 (-0.20) |" in to_markdown(t3)


# ---- methods the registry may not know yet (HAdapter, PAdapter, SoRA) --------------------------------
@dataclass
class AdapterSettings:
    bottleneck: int = 64

    def tag(self) -> str:
        return f"hadapter-b{self.bottleneck}"


@dataclass
class SoraSettings:
    r: int = 8

    def tag(self) -> str:
        return f"sora-r{self.r}"


def test_unregistered_methods_show_the_paper_values_only(monkeypatch):
    monkeypatch.delitem(registry.METHODS, "hadapter")
    t1 = table([], 1)
    hadapter = row(t1, "HAdapter")
    assert hadapter.method.tag is None and hadapter.selections == {} and hadapter.cells[0].paper == 67.65
    assert any(n.startswith("HAdapter: the paper's values only") and "'hadapter' is unknown" in n for n in t1.notes)


def test_registered_adapter_rows_use_our_runs(tmp_path, monkeypatch):
    monkeypatch.delitem(registry.METHODS, "padapter")
    write_record(tmp_path, task="rte", tag="hadapter-b8", best=83.0, trainable=325_000)
    t1 = table(load_records(tmp_path), 1)
    hadapter = row(t1, "HAdapter (bottleneck 8)")
    assert cell(t1, "HAdapter (bottleneck 8)", "RTE").ours.value == 83.0 and hadapter.params == "0.310M"
    assert "python run.py model=deberta-v3-base task=cola method=hadapter method.bottleneck=8 seed=1" in t1.commands
    assert row(t1, "PAdapter").method.tag is None  # still unknown: paper values only


def test_rows_whose_options_the_registry_rejects_are_not_runnable(monkeypatch):
    @dataclass
    class Renamed:
        reduction_factor: int = 16

        def tag(self) -> str:
            return "padapter"

    monkeypatch.setitem(registry.METHODS, "padapter", MethodEntry(Renamed, "unused:apply"))
    t1 = table([], 1)
    assert row(t1, "PAdapter").method.tag is None
    assert any("PAdapter" in n and "unknown setting(s) ['bottleneck']" in n for n in t1.notes)


def test_sora_params_are_its_nonzero_count(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.METHODS, "sora", MethodEntry(SoraSettings, "unused:apply"))
    write_record(tmp_path, task="rte", tag="sora-r8", best=83.5, trainable=1_327_104,
                 method_state={"nonzero_params": 125_829})
    t1 = table(load_records(tmp_path), 1)
    assert row(t1, "SoRA").params == "0.120M" and row(t1, "SoRA").params_count == 125_829


@pytest.mark.parametrize("number", range(1, 7))
def test_every_paper_block_lists_its_rows_in_the_papers_order(number):
    layout = LAYOUTS[number - 1]
    for model in layout.models:
        assert [m.paper for m in layout.rows(model)] == [m.paper for m in layout.methods]


def test_render_writes_inside_paths_layout(tmp_path):
    written = render(tmp_path / "nothing", tmp_path / "out", figures=False)
    assert {p.parent.relative_to(tmp_path / "out") for p in written} == {Path("tables")}
