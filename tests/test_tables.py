"""Tables and figures from hand-made run records: exact cell contents, selection rules, determinism."""

from __future__ import annotations

import ast
import csv
import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from record_fixtures import BASE, write_record

import dcft.methods as registry
from dcft.paths import SHIPPED_GLUE
from dcft.results import LAYOUTS, build_tables, format_params, load_paper, load_records, render, to_latex, to_markdown
from dcft.results.render import command_line

ROOT = Path(__file__).resolve().parents[1]


def table(records, number: int, **kw):
    (built,) = build_tables(records, layouts=[LAYOUTS[number - 1]], **kw)
    assert built.layout.number == number
    return built


def row(t, label: str, block: int = 0):
    return next(r for r in t.blocks[block].rows if r.label == label)


def cell(t, label: str, column: str, block: int = 0):
    return next(c for c in row(t, label, block).cells if c.column.label == column)


def csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """RTE d=8: two lrs x two seeds (+1 diverged); CoLA only diverged; MRPC only running; STS-B missing."""
    r = tmp_path / "results"
    for lr, values in ((0.0005, (80.0, 81.0)), (0.0012, (88.0, 89.0))):
        for seed, v in zip((1, 2), values, strict=True):
            write_record(r, lr=lr, seed=seed, best=v, final=v - 3, hours=1.0 + seed / 2)
    write_record(r, lr=0.003, seed=1, status="diverged", best=99.0, command="python run.py task=rte lr=0.003")
    write_record(r, task="cola", seed=1, status="diverged", best=99.0)
    write_record(r, task="mrpc", seed=1, status="running", best=50.0)
    return r


def test_cells_mean_std_params_and_best_lr(results):
    t4 = table(load_records(results), 4)
    rte = cell(t4, "DCFT (d=8)", "RTE")
    assert (rte.ours.value, round(rte.ours.std, 4), rte.ours.n) == (88.5, 0.7071, 2)
    assert rte.selection.lr == 0.0012 and rte.selection.lrs == (0.0005, 0.0012)
    md = to_markdown(t4)
    assert "| DCFT (d=8) | 0.024M / 0.024M |" in md
    assert "88.50 ± 0.71 (n=2; 1 failed) / 88.45 (+0.05)" in md
    assert "1.75 ± 0.35 (n=2; 1 failed) / 1.08 (+0.67)" in md  # RTE h: mean of 1.5 h and 2.0 h
    # 0.003 was tried and diverged: the grid went past the winner, which is not on its edge
    assert ("deberta-v3-base / RTE / DCFT (d=8) (`dcft-d8-s8`): lr 0.0012 won "
            "(tried 0.0005, 0.0012, 0.003 (diverged))") in md
    assert "diverged at lr 0.003 seed 1" in md and "rerun: `python run.py task=rte lr=0.003`" in md
    assert "| DCFT (d=8, s=8) | 24.8K / 24.6k |" in to_markdown(table(load_records(results), 5))


def test_failed_running_and_missing_cells(results):
    t4 = table(load_records(results), 4)
    md = to_markdown(t4)
    assert cell(t4, "DCFT (d=8)", "CoLA").status == "failed"
    assert "| failed (1) / 71.07 |" in md and "99.00" not in md  # a failed run never gives a number
    assert cell(t4, "DCFT (d=8)", "MRPC").status == "running" and "| running / 90.93 |" in md
    assert cell(t4, "DCFT (d=8)", "STS-B").status == "missing" and "| — / 91.56 |" in md
    # seeds present for this model (1, 2) -> a multirun over them
    assert (
        "python run.py -m model=deberta-v3-base task=stsb method=dcft kernel=8 stride=8 seed=1,2"
        in t4.commands
    )
    assert cell(t4, "DCFT (d=8)", "Avg").status == "incomplete"


def test_missing_commands_use_paper_seed_and_method_overrides(tmp_path, monkeypatch):
    t6 = table([], 6)
    assert "python run.py model=deberta-v3-base task=rte method=dcft kernel=8 stride=8 seed=6" in t6.commands
    assert (
        "python run.py model=deberta-v3-base task=cola method=dcft kernel=8 stride=8 method.targets=qk seed=6"
        in t6.commands
    )
    t1 = table([], 1)
    # RoBERTa-large runs the LoRA the paper copied (r=8 on Q,V); DeBERTaV3-base its own rank-one LoRA
    assert "python run.py model=roberta-large task=mnli method=lora method.r=8 method.targets=qv seed=6" in t1.commands
    assert "python run.py model=deberta-v3-base task=mnli method=lora method.r=1 seed=6" in t1.commands
    assert "python run.py model=deberta-v3-base task=cola method=hadapter method.bottleneck=8 seed=6" in t1.commands
    for name in ("hadapter", "sora"):  # a method the registry lacks: the paper's value only, no command
        monkeypatch.delitem(registry.METHODS, name)
    t1 = table([], 1)
    assert not any("hadapter" in c or "sora" in c for c in t1.commands)
    assert "| HAdapter | — / 0.31M | — / 67.65 |" in to_markdown(t1)


def test_missing_commands_reuse_the_settings_shared_by_the_model_runs(tmp_path):
    for seed, lr in ((1, 0.003), (2, 0.01)):
        path = write_record(tmp_path, model="minilm", seed=seed, lr=lr, best=60.0)
        record = json.loads(path.read_text())
        record["overrides"] = ["model=minilm", "task=rte", f"seed={seed}", f"method.lr={lr}", "data.dir=/glue",
                               "+experiment=minilm_study", "method=dcft_d8"]
        path.write_text(json.dumps(record))
    t4 = table(load_records(tmp_path), 4, model="minilm")
    command = next(c for c in t4.commands if "task=stsb" in c and "kernel=2 " in c)
    assert command.endswith("seed=1,2 data.dir=/glue +experiment=minilm_study")
    assert "method.lr" not in command and "method=dcft_d8" not in command


def test_unreadable_and_invalid_records_are_skipped_with_a_warning(results, capsys):
    bad = results / "runs" / BASE / "rte" / "dcft-d8-s8" / "lr0.1"
    bad.mkdir(parents=True)
    (bad / "seed1.json").write_text("{not json")
    (bad / "seed2.json").write_text(json.dumps({"status": "finished", "model": BASE}))
    records = load_records(results)
    err = capsys.readouterr().err.splitlines()
    assert len(records) == 7 and len(err) == 2
    assert err[0].startswith("warning: skipping unreadable record") and "seed1.json" in err[0]
    assert "skipping invalid record" in err[1] and "missing field 'task'" in err[1]


def test_rule_best_vs_final(results):
    records = load_records(results)
    assert cell(table(records, 4, rule="best"), "DCFT (d=8)", "RTE").ours.value == 88.5
    final = table(records, 4, rule="final")
    assert cell(final, "DCFT (d=8)", "RTE").ours.value == 85.5
    assert "Reporting rule: final (last evaluation of each run)" in final.caption


def test_mean_vs_median(tmp_path):
    for seed, v in ((1, 80.0), (2, 81.0), (3, 90.0)):
        write_record(tmp_path, task="cola", seed=seed, best=v)
    records = load_records(tmp_path)
    mean = cell(table(records, 4, agg="mean"), "DCFT (d=8)", "CoLA")
    median = cell(table(records, 4, agg="median"), "DCFT (d=8)", "CoLA")
    assert to_markdown(table(records, 4)).count("83.67 ± 5.51 (n=3) / 71.07 (+12.60)") == 1
    assert (median.ours.value, median.ours.n) == (81.0, 3) and mean.ours.std == median.ours.std


def test_average_uses_mnli_mean_of_matched_and_mismatched(tmp_path):
    """Feeding the paper's own DCFT d=2 numbers back must give the paper's Avg (88.99)."""
    paper = load_paper()
    for task in ("cola", "sst2", "mrpc", "qqp", "stsb", "qnli", "rte"):
        metric = {"cola": "mcc", "stsb": "pearson"}.get(task, "acc")
        write_record(
            tmp_path, task=task, tag="dcft-d2-s2", best=paper.value(1, BASE, "dcft-best(d=2)", task, metric)
        )
    write_record(
        tmp_path, task="mnli", tag="dcft-d2-s2", best=89.97, metrics={"validation_mismatched_accuracy": 90.12}
    )
    t1 = table(load_records(tmp_path), 1)
    avg = cell(t1, "DCFT† (d=2, best)", "Avg")
    assert round(avg.ours.value, 2) == 88.99 and "| 88.99 / 88.99 (+0.00) |" in to_markdown(t1)
    assert cell(t1, "DCFT† (d=2, best)", "MNLI mm").ours.value == 90.12
    tex = to_latex(t1)
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\textbf{88.99}" in tex


def test_params_from_count_params_hook_and_its_failure(results):
    records = load_records(results)
    t5 = table(records, 5, count_params=lambda model, s: 169488 if s["stride"] == 1 else 25344)
    assert row(t5, "DCFT (d=8, s=1)").params == "165.5K" and row(t5, "DCFT (d=8, s=8)").params == "24.8K"
    warnings = []

    def broken(model, settings):
        raise KeyError(model)

    t4 = table(records, 4, count_params=broken, warn=warnings.append)
    assert row(t4, "DCFT (d=8)").params == "0.024M" and row(t4, "DCFT (d=2)").params == "—"
    assert len(warnings) == 6 and "count_params('deberta-v3-base'" in warnings[0]  # once per distinct row
    assert [format_params(n, "M") for n in (25344, 83232, 3_700_000, 1_610_612_736)] == [
        "0.024M",
        "0.079M",
        "3.5M",
        "1.5B",
    ]
    assert format_params(83232, "%", 184_000_000) == "0.05%"


def test_render_outputs_are_deterministic_and_atomic(results, tmp_path):
    write_record(
        results,
        task="sst2",
        seed=1,
        best=95.0,
        curves={
            "train_loss": [[10, 0.7], [20, 0.4]],
            "eval": [[10, {"accuracy": 90.0}], [20, {"accuracy": 95.0}]],
        },
    )
    write_record(results, task="cola", tag="lora-r1", seed=1, best=60.0, trainable=165888, hours=0.5)
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    written = render(results, out_a)
    first = {p.relative_to(out_a): p.read_bytes() for p in written}
    render(results, out_a)
    render(results, out_b)
    names = {str(p) for p in first}
    assert {f"tables/table{n}.{e}" for n in range(1, 7) for e in ("md", "tex", "csv")} <= names
    assert {"tables/README.md", "figures/fig2_training_time.png", "figures/fig3_sst2_curves.pdf"} <= names
    for rel, data in first.items():
        assert (out_a / rel).read_bytes() == data, rel
        assert (out_b / rel).read_bytes() == data, rel
        assert len(data) > 0
    assert not list(out_a.rglob("*.tmp"))
    rows = csv_rows(out_a / "tables" / "table4.csv")
    rte = next(r for r in rows if r["method_tag"] == "dcft-d8-s8" and r["column"] == "RTE")
    assert (rte["value"], rte["std"], rte["n"], rte["lr"], rte["lrs"], rte["paper"], rte["diff"]) == (
        "88.5000",
        "0.7071",
        "2",
        "0.0012",
        "0.0005;0.0012",
        "88.4500",
        "0.0500",
    )
    readme = (out_a / "tables" / "README.md").read_text()
    assert "Reporting rule: **best**" in readme and "| 4 | DCFT kernel size d" in readme


def test_empty_results_still_write_figures(tmp_path):
    written = render(tmp_path / "nothing", tmp_path / "out")
    figures = [p for p in written if p.parent.name == "figures"]
    assert len(figures) == 4 and all(p.stat().st_size > 1000 for p in figures)


def test_cli_model_option_labels_runs_and_paper(tmp_path):
    results = tmp_path / "results"
    write_record(results, model="minilm", task="rte", seed=3, best=60.0, trainable=4000)
    write_record(results, model="minilm", task="rte", tag="adalora", seed=3, best=61.0)
    main = runpy.run_path(str(ROOT / "scripts" / "tables.py"))["main"]  # the CLI, in-process
    argv = ["--results-dir", str(results), "--out", str(tmp_path / "out"), "--model", "minilm", "--agg", "median",
            "--no-figures"]
    assert main(argv) == 0
    md = (tmp_path / "out" / "tables" / "table4.md").read_text()
    assert "## runs: minilm (not a paper model); paper: deberta-v3-base" in md and "aggregation: median" in md
    assert "| DCFT (d=8) | 0.004M / 0.024M |" in md and "60.00 (n=1) / 88.45 (-28.45)" in md
    assert "python run.py model=minilm task=sst2 method=dcft kernel=2 stride=2 seed=3" in md
    t1 = (tmp_path / "out" / "tables" / "table1.md").read_text()
    assert t1.count("## runs: minilm (not a paper model); paper: deberta-v3-base") == 1
    assert "## runs: roberta-large" not in t1 and "## runs: deberta-v3-base" not in t1  # --model narrows
    readme = (tmp_path / "out" / "tables" / "README.md").read_text()
    assert "`python scripts/tables.py --agg median --model minilm`" in readme and "- minilm/rte/adalora" in readme


def test_index_command_names_the_data_dir_only_when_it_is_not_the_shipped_one(tmp_path):
    """The index's command line must rebuild these outputs: another --data-dir changes the majority-class floors."""
    assert command_line("best", "mean", None, None, SHIPPED_GLUE / ".." / "glue") == "python scripts/tables.py"
    assert command_line("final", "mean", None, None, tmp_path) == (
        f"python scripts/tables.py --rule final --data-dir {tmp_path}")


def test_cli_damaged_glue_file_under_data_dir_is_one_line_and_writes_nothing(tmp_path, capsys):
    results, glue = tmp_path / "results", tmp_path / "glue" / "RTE"
    write_record(results, model="minilm", task="rte", best=60.0)
    glue.mkdir(parents=True)
    (glue / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    (glue / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n")
    main = runpy.run_path(str(ROOT / "scripts" / "tables.py"))["main"]
    with pytest.raises(SystemExit) as stop:
        main(["--results-dir", str(results), "--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "glue")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert stop.value.code == 2 and "label 'maybe' is not one of entailment, not_entailment" in err
    assert not (tmp_path / "out").exists()  # stopped before writing anything


def test_layouts_cover_every_paper_number():
    """Each layout row/column finds its paper value, and every paper number lands in some layout cell."""
    paper = load_paper()
    used = set()
    for layout in LAYOUTS:
        for model in layout.models:
            for method in layout.rows(model):
                for col in layout.columns():
                    where = (layout.number, model, method.paper, col.task, col.paper_metric)
                    if paper.value(*where, index=col.paper_index) is not None:
                        used.add(where)
    rows = {(r.table, r.model, r.method, r.task, r.metric) for r in paper.rows}
    assert rows == used, sorted(rows ^ used)


def test_nan_metric_is_never_a_number(tmp_path):
    path = write_record(tmp_path, task="rte", best=88.0)
    path.write_text(path.read_text().replace("88.0", "NaN"))
    t4 = table(load_records(tmp_path), 4)
    assert cell(t4, "DCFT (d=8)", "RTE").status == "no metric"
    assert "| no metric / 88.45 |" in to_markdown(t4) and "finished runs have no `accuracy`" in t4.problems[0]


# ---- the package stays torch-free --------------------------------------------------------------------
TORCH_FREE = {"dcft.methods", "dcft.methods.settings", "dcft.methods.groups", "dcft.paths", "dcft.io_utils",
              "dcft.cells", "dcft.errors", "dcft.tasks.glue_tsv", "dcft.tasks.metrics"}
# the parts of dcft the tables may use (names of cells and methods, the results layout, GLUE labels and metrics)
HEAVY = ("torch", "transformers", "peft", "accelerate", "datasets")


def test_results_package_imports_only_allowed_modules():
    """Static: dcft/results and the CLI import dcft.results.*, the torch-free modules above, and no ML library."""
    files = sorted((ROOT / "dcft" / "results").glob("*.py")) + [ROOT / "scripts" / "tables.py"]
    assert len(files) > 10
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            for name in names:
                assert name.split(".")[0] not in HEAVY, f"{path.name} imports {name}"
                if name == "dcft" or name.startswith("dcft."):
                    assert name.startswith("dcft.results") or name in TORCH_FREE, f"{path.name}: {name}"


RENDER_AND_CHECK = """
import sys
{prelude}
from dcft.results import render
render({results!r}, {out!r}, data_dir={data!r})
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("imported:", heavy)
sys.exit(1 if heavy else 0)
"""


@pytest.mark.parametrize("prelude, clean", [("", True), ("import dcft.models", False)])
def test_rendering_everything_never_imports_torch(tmp_path, prelude, clean):
    """Runtime, in a fresh interpreter: import dcft.results and write every table, summary and figure from
    schema-1 and schema-2 records (rows whose method is not registered included), then look at sys.modules.
    The second case imports a torch module first: the check must see it."""
    results = tmp_path / "results"
    write_record(results, task="rte", best=80.0)
    write_record(results, model="minilm", task="stsb", tag="lora-r1", best=70.0, schema=1)
    code = RENDER_AND_CHECK.format(prelude=prelude, results=str(results), out=str(tmp_path / "out"), heavy=HEAVY,
                                   data=str(SHIPPED_GLUE))  # the majority-class floors read GLUE labels too
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert (proc.returncode == 0) == clean, proc.stdout + proc.stderr
    assert ("imported: []" in proc.stdout) == clean
    assert (tmp_path / "out" / "tables" / "summary_minilm.md").is_file()
    assert any("Majority class" in p.read_text() for p in (tmp_path / "out" / "tables").glob("summary_*.md"))


def test_every_status_the_harness_writes_is_one_the_tables_know():
    """dcft.results.STATUSES is the one list: every status train.py / cli.py write is in it."""
    from dcft.results import STATUSES

    written = set()
    for name in ("train.py", "cli.py"):
        text = (ROOT / "dcft" / name).read_text()
        written |= set(re.findall(r'write_record\("(\w+)"', text))
        written |= set(re.findall(r'build_record\(cfg, "(\w+)"', text))
    assert {"running", "finished", "failed", "diverged", "preempted"} <= written
    assert written <= set(STATUSES)
