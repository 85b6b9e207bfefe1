"""Baselines run their own settings (dcft/data/baseline_hparams.csv), never DCFT's: Tables 1-2 jobs as the sweep
composes them, and the generated hparams files against the CSV they come from."""

import csv
import importlib.util

import pytest
from conftest import ROOT
from hydra import compose, initialize_config_dir

from dcft.config import from_hydra
from dcft.paths import CONF_DIR


def job(table, model, task, method, *extra):
    """One job of `python run.py -m +experiment=<table>`, composed exactly as the sweep composes it."""
    overrides = [f"+experiment={table}", f"model={model}", f"task={task}", f"method={method}", *extra]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return from_hydra(compose(config_name="config", overrides=overrides), overrides=overrides)


def schedule(cfg):
    t = cfg.trainer
    return {"lr": t.lr, "batch_size": t.batch_size, "grad_accum": t.grad_accum, "epochs": t.epochs,
            "max_length": t.max_length, "warmup_steps": t.warmup_steps, "warmup_ratio": t.warmup_ratio,
            "weight_decay": t.weight_decay, "cls_dropout": t.cls_dropout, "eval_steps": t.eval_steps,
            "max_grad_norm": t.max_grad_norm}


def test_full_ft_on_deberta_v3_base_rte_runs_soras_recipe_not_dcfts():
    cfg = job("table1", "deberta-v3-base", "rte", "full")
    assert cfg.method_tag == "full" and cfg.trainer.lr == 5e-5  # DCFT's RTE lr is 1.2e-3
    assert schedule(cfg) == {"lr": 5e-5, "batch_size": 80, "grad_accum": 1, "epochs": 10, "max_length": 256,
                             "warmup_steps": None, "warmup_ratio": 0.06, "weight_decay": 0.1, "cls_dropout": None,
                             "eval_steps": 32, "max_grad_norm": 0.1}  # 32 = ceil(2490 / 80): one eval per epoch
    assert "/full/" in cfg.run_dir and "/lr5e-05/" in cfg.run_dir


def test_bitfit_on_deberta_v3_base_sst2():
    cfg = job("table1", "deberta-v3-base", "sst2", "bitfit")
    s = schedule(cfg)
    assert (cfg.method_tag, s["lr"], s["batch_size"], s["epochs"], s["eval_steps"]) == ("bitfit", 8e-4, 100, 10, 674)


def test_lora_on_roberta_large_mrpc_is_the_lora_papers_r8_qv():
    cfg = job("table1", "roberta-large", "mrpc", "lora")
    assert cfg.method_tag == "lora-r8-qv"
    assert (cfg.method_options["r"], cfg.method_options["alpha"], cfg.method_options["targets"]) == (8, 16.0, "qv")
    s = schedule(cfg)  # roberta_large_mrpc.sh: 4 per GPU x 8 GPUs, 20 epochs, evaluated each epoch
    assert (s["lr"], s["batch_size"], s["grad_accum"], s["epochs"], s["max_length"]) == (3e-4, 4, 8, 20, 512)
    assert (s["warmup_ratio"], s["warmup_steps"], s["weight_decay"], s["eval_steps"]) == (0.06, None, 0.1, 115)


def test_lora_on_deberta_v2_xxlarge_cola_is_the_lora_papers_r16_qv():
    cfg = job("table2", "deberta-v2-xxlarge", "cola", "lora")
    assert cfg.method_tag == "lora-r16-qv" and cfg.method_options["alpha"] == 32.0
    assert schedule(cfg) == {"lr": 1.3e-4, "batch_size": 4, "grad_accum": 8, "epochs": 10, "max_length": 64,
                             "warmup_steps": 100, "warmup_ratio": None, "weight_decay": 0.0, "cls_dropout": 0.1,
                             "eval_steps": 20, "max_grad_norm": 1.0}


def test_full_ft_on_deberta_v2_xxlarge_uses_the_deberta_authors_settings():
    cfg = job("table2", "deberta-v2-xxlarge", "stsb", "full")
    s = schedule(cfg)  # experiments/glue/stsb.sh xxlarge-v2: total batch 32 over 8 GPUs, lr 3e-6, 4 epochs
    assert (s["lr"], s["batch_size"] * s["grad_accum"], s["epochs"], s["warmup_steps"], s["cls_dropout"]) == \
        (3e-6, 32, 4, 100, 0.2)


def test_roberta_large_full_ft_uses_the_roberta_authors_settings():
    s = schedule(job("table1", "roberta-large", "rte", "full"))
    assert (s["lr"], s["batch_size"], s["epochs"], s["max_grad_norm"], s["eval_steps"]) == (2e-5, 16, 10, None, 156)


def test_dcft_and_table_1_deberta_v3_base_lora_keep_the_authors_settings():
    dcft, lora = job("table1", "deberta-v3-base", "rte", "dcft_d8"), job("table1", "deberta-v3-base", "rte", "lora")
    assert lora.method_tag == "lora-r1" and lora.method_options["targets"] == "all"
    for cfg in (dcft, lora):
        assert schedule(cfg) == {
            "lr": 1.2e-3, "batch_size": 32, "grad_accum": 1, "epochs": 50, "max_length": 320, "warmup_steps": 200,
            "warmup_ratio": None, "weight_decay": 0.01, "cls_dropout": 0.2, "eval_steps": 100, "max_grad_norm": 1.0}


def test_a_command_line_override_still_wins_over_a_baseline_setting():
    cfg = job("table1", "roberta-large", "mrpc", "lora", "trainer.lr=1e-4", "trainer.grad_accum=2", "method.r=4")
    assert (cfg.trainer.lr, cfg.trainer.grad_accum, cfg.method_tag) == (1e-4, 2, "lora-r4-qv")


def _importer():
    spec = importlib.util.spec_from_file_location("import_hparams", ROOT / "scripts" / "import_hparams.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_hparams_files_match_the_csvs():
    """`make hparams` was run after the last edit of dcft/data/*.csv (and nobody edited a generated file)."""
    files = _importer().render()
    root = CONF_DIR / "hparams"
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert set(files) == on_disk
    stale = [name for name, text in files.items() if (root / name).read_text() != text]
    assert stale == [], "run `make hparams`"


def test_every_baseline_value_lands_in_its_block_with_its_source():
    rows = list(csv.DictReader((ROOT / "dcft" / "data" / "baseline_hparams.csv").open()))
    assert len(rows) > 500 and all(row["source"].strip() for row in rows)
    sets = _importer().baseline_sets()
    for row in rows:
        value, source = sets[(row["model"], row["task"])][row["method"]][row["setting"]]
        assert source == row["source"]
        assert ("null" if value is None else str(value)) == row["value"] or float(value) == float(row["value"])


HEADER = "model,task,method,setting,value,source\n"
GOOD = "".join(f"roberta-large,rte,full,{key},{value},src\n" for key, value in (
    ("lr", 1e-5), ("batch_size", 16), ("grad_accum", 1), ("epochs", 10), ("max_length", 512),
    ("warmup_ratio", 0.06), ("weight_decay", 0.1), ("max_grad_norm", "null"), ("cls_dropout", "null"),
    ("eval_steps", 156)))


@pytest.mark.parametrize("extra,message", [
    ("roberta-large,rte,full,lrate,1,src\n", "setting='lrate' is unknown"),
    ("roberta-large,rte,fulll,r,1,src\n", "method='fulll' is unknown"),
    ("roberta-large,rte,full,r,8,src\n", "method full has no setting 'r'"),
    ("roberta-large,rte,lora,targets,qz,src\n", "unknown group 'qz'"),
    ("roberta-large,rte,full,lr,2e-5,src\n", "lr given twice"),
    ("roberta-large,rte,bitfit,lr,1e-3,\n", "lr has no source"),
    ("roberta-large,rte,bitfit,lr,1e-3,src\n", "roberta-large rte bitfit lacks batch_size"),
])
def test_bad_baseline_rows_are_one_line_errors(tmp_path, extra, message):
    path = tmp_path / "baseline_hparams.csv"
    path.write_text(HEADER + GOOD)
    assert _importer().baseline_sets(path)[("roberta-large", "rte")]["full"]["warmup_steps"][0] is None
    path.write_text(HEADER + GOOD + extra)
    with pytest.raises(SystemExit, match=message):
        _importer().baseline_sets(path)


def test_plan_shows_each_rows_settings(capsys):
    """`make plan EXP=table2`: one line per job with its method tag, effective lr, length and batch."""
    spec = importlib.util.spec_from_file_location("plan", ROOT / "scripts" / "plan.py")
    plan = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plan)
    assert plan.main(["+experiment=table2", "task=cola", "results_dir=/nonexistent"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("3 jobs, 3 cells") and len(lines) == 6  # count, cost, header, 3 jobs
    rows = {line.split()[4]: line.split()[2:8] for line in lines[3:]}  # method tag -> columns
    assert rows["full"] == ["deberta-v2-xxlarge", "cola", "full", "2.5e-06", "10ep", "4x8"]
    assert rows["lora-r16-qv"][3:6] == ["0.00013", "10ep", "4x8"]
    assert rows["dcft-d8-s8"][3:6] == ["0.0008", "25ep", "4"]


def test_plan_shows_steps_where_max_steps_caps_the_run(capsys):
    """The MiniLM study caps runs by optimizer steps: its rows show the steps, not the task's epochs."""
    spec = importlib.util.spec_from_file_location("plan", ROOT / "scripts" / "plan.py")
    plan = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plan)
    args = ["+experiment=minilm_study", "task=stsb", "method=dcft_d8,lora", "lr_x=10", "results_dir=/nonexistent"]
    assert plan.main(args) == 0
    rows = {line.split()[4]: line.split()[2:8] for line in capsys.readouterr().out.splitlines()[3:]}
    assert rows["dcft-d8-s8"][3:5] == ["0.01", "1080steps"] and rows["lora-r1"][3:5] == ["0.001", "1080steps"]
