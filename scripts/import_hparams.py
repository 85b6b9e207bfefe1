"""Generate dcft/conf/hparams/{released,paper}/<model>_<task>.yaml and DIFFERENCES.md (no hand edits).

    python scripts/import_hparams.py        (make hparams)

Two sets, because the release and the paper disagree and nobody can tell which produced the printed numbers:
- released: the authors' launch scripts (dcft/data/official_hparams.csv, read off Godz-z/DCFT's NLU/scripts and
  COMMANDL/COMMANDXXL before commit 81f78a0). SQuAD has no DCFT script: AdaLoRA's, which the release forked.
- paper: the paper's Tables 9 (GLUE, DeBERTaV3-base) and 10 (SQuAD) where they print a value, the released
  value elsewhere. Table 9's "dropout" and "γ" labels look swapped: its "γ" column equals the scripts'
  cls_dropout on all eight tasks and its "dropout" column equals AdaLoRA's γ (orthogonality coefficient), so
  "dropout" is read as reg_orth_coef and "γ" as cls_dropout. Table 10 (SQuAD) has no dropout: its γ is read as
  reg_orth_coef. Its r sets scaling = lora_alpha / r (alpha from the scripts).
Baselines (Full FT, BitFit, LoRA on RoBERTa-large ...) are never trained with DCFT's settings: their own, from
the papers the DCFT paper copied those rows from, are in dcft/data/baseline_hparams.csv (one row per value, with
its source) and land in both sets as `baselines.<method>` blocks, which `${hp:...}` / `${baseline:...}` in the
trainer and method configs prefer (the trainer's grad_accum and max_grad_norm too, through `${baseline:...}`).
Each block gives the method's whole schedule; the script rejects unknown settings, missing ones and empty sources.
Every value carries its source in a comment.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dcft.methods import METHODS, parse_groups  # noqa: E402  (torch-free)

DATA = ROOT / "dcft" / "data"
OUT = ROOT / "dcft" / "conf" / "hparams"

KEYS = ("lr", "batch_size", "epochs", "max_length", "warmup_steps", "warmup_ratio", "cls_dropout", "weight_decay",
        "eval_steps", "seed", "lora_r", "lora_alpha", "scaling", "reg_orth_coef", "init_warmup", "final_warmup",
        "mask_interval", "target_rank")
CSV_COLUMNS = {"lr": "learning_rate", "max_length": "max_seq_length"}  # key -> official_hparams.csv column
INTS = {"batch_size", "epochs", "max_length", "warmup_steps", "eval_steps", "seed", "lora_r", "init_warmup",
        "final_warmup", "mask_interval", "target_rank", "grad_accum", "r"}
RELEASED = "official_hparams.csv (the authors' launch script)"

# AdaLoRA's only SQuAD launch script (QingruZhang/AdaLoRA @ d10f5eb, NLG_QA/scripts/run_debertav3_squadv2.sh),
# which DCFT's release forked. Its `--max_step 300` is a debugging leftover (it would stop training after 300
# steps) and is not copied. It is a v2.0 script: v1.1 takes the same values, except t_f (paper Table 10).
ADALORA_SQUAD = {"lr": 1e-3, "batch_size": 16, "epochs": 12, "max_length": 384, "warmup_steps": 1000,
                 "warmup_ratio": None, "cls_dropout": None, "weight_decay": 0.0, "eval_steps": 3000, "seed": 9,
                 "lora_r": 2, "lora_alpha": 16.0, "reg_orth_coef": 0.1, "init_warmup": 5000, "final_warmup": 50000,
                 "mask_interval": 100, "target_rank": 1}
ADALORA = "AdaLoRA run_debertav3_squadv2.sh (d10f5eb)"
HARNESS = "no source gives one: harness default"


def _number(raw: str, key: str):
    raw = raw.strip()
    if raw == "":
        return None
    return int(float(raw)) if key in INTS else float(raw)


def released_sets() -> dict[tuple[str, str], dict[str, tuple]]:
    """(model, task) -> {key: (value, source)} for the released set."""
    sets = {}
    with (DATA / "official_hparams.csv").open() as f:
        for row in csv.DictReader(f):
            values = {k: (_number(row[CSV_COLUMNS.get(k, k)], k), RELEASED) for k in KEYS}
            sets[(row["model"], row["task"])] = values
    for task in ("squad", "squad_v2"):
        values = {k: (v, ADALORA) for k, v in ADALORA_SQUAD.items()}
        values["weight_decay"] = (0.0, f"{ADALORA} (not set: the trainer's default 0)")
        if task == "squad":
            values["final_warmup"] = (25000, "paper Table 10 (no v1.1 script exists)")
        values["scaling"] = (values["lora_alpha"][0] / values["lora_r"][0], "lora_alpha / lora_r")
        sets[("deberta-v3-base", task)] = values
    return sets


def paper_sets(released: dict) -> dict[tuple[str, str], dict[str, tuple]]:
    """Tables 9-10 over the released values (DeBERTaV3-base only; other models print none)."""
    sets = {key: dict(values) for key, values in released.items()}
    with (DATA / "paper_hparams_tables_9_10.csv").open() as f:
        for row in csv.DictReader(f):
            task, squad = row["task"], row["task"].startswith("squad")
            table = "paper Table 10" if squad else "paper Table 9"
            values = sets[("deberta-v3-base", task)]
            printed = {"lr": row["learning_rate"], "batch_size": row["batch_size"], "lora_r": row["r"],
                       "epochs": row["epochs"], "init_warmup": row["init_warmup"], "mask_interval": row["delta_T"],
                       "final_warmup": row["t_f"]}
            if squad:
                printed["reg_orth_coef"] = row["gamma"]
            else:
                printed["reg_orth_coef"] = row["dropout"]  # Table 9's "dropout" column (labels swapped)
                printed["cls_dropout"] = row["gamma"]  # Table 9's "γ" column
            for key, raw in printed.items():
                if raw.strip():
                    label = {"reg_orth_coef": f"{table} '{'γ' if squad else 'dropout'}' column",
                             "cls_dropout": f"{table} 'γ' column"}.get(key, table)
                    values[key] = (_number(raw, key), label)
            values["scaling"] = (round(values["lora_alpha"][0] / values["lora_r"][0], 4),
                                 "lora_alpha / lora_r (r from the paper)")
    for (model, _task), values in sets.items():
        if model != "deberta-v3-base":
            for key, (value, _source) in values.items():
                values[key] = (value, "the paper prints no settings for this model: released")
    return sets


# A baseline block holds its whole schedule, so nothing falls back to DCFT's values (and no key leaks in from
# another model's block when Hydra merges a model's hparams file over DeBERTaV3-base's). One warm-up key suffices.
SCHEDULE = ("lr", "batch_size", "grad_accum", "epochs", "max_length", "warmup_steps", "warmup_ratio", "weight_decay",
            "max_grad_norm", "cls_dropout", "eval_steps")
WARMUP = ("warmup_steps", "warmup_ratio")
METHOD_KEYS = ("r", "alpha", "targets")  # read by the method configs through ${baseline:key,default}
BASELINES_CSV = "baseline_hparams.csv"


def _baseline_value(row: dict[str, str], where: str):
    method, key, raw = row["method"], row["setting"], row["value"].strip()
    if method not in METHODS:
        raise SystemExit(f"{where}: method={method!r} is unknown; use one of {', '.join(METHODS)}")
    if key in METHOD_KEYS:
        fields = {f.name for f in dataclasses.fields(METHODS[method].settings)}
        if key not in fields:
            raise SystemExit(f"{where}: method {method} has no setting {key!r}; its settings: {sorted(fields)}")
    elif key not in SCHEDULE:
        raise SystemExit(f"{where}: setting={key!r} is unknown; use one of {', '.join(SCHEDULE + METHOD_KEYS)}")
    if not row["source"].strip():
        raise SystemExit(f"{where}: {key} has no source; name the paper table or the repo, commit and file")
    if raw in ("", "null"):
        return None
    if key == "targets":
        try:
            parse_groups(raw)
        except ValueError as exc:
            raise SystemExit(f"{where}: {exc}") from None
        return raw
    try:
        return _number(raw, key)
    except ValueError:
        raise SystemExit(f"{where}: {key}={raw!r} is not a number") from None


def baseline_sets(path: Path = DATA / BASELINES_CSV) -> dict[tuple[str, str], dict[str, dict[str, tuple]]]:
    """(model, task) -> method -> {setting: (value, source)} from baseline_hparams.csv, checked row by row."""
    sets: dict = {}
    if not path.exists():
        return sets
    with path.open() as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            where = f"{path.name} line {line}"
            block = sets.setdefault((row["model"], row["task"]), {}).setdefault(row["method"], {})
            if row["setting"] in block:
                raise SystemExit(f"{where}: {row['setting']} given twice for {row['model']} {row['task']} "
                                 f"{row['method']}; keep one row")
            block[row["setting"]] = (_baseline_value(row, where), row["source"].strip())
    for (model, task), methods in sets.items():
        for method, block in methods.items():
            given = [k for k in WARMUP if k in block]
            missing = [k for k in SCHEDULE if k not in block and (k not in WARMUP or not given)]
            if missing:
                raise SystemExit(f"{path.name}: {model} {task} {method} lacks {', '.join(missing)}; a baseline "
                                 "block gives its whole schedule (null where the source sets none)")
            for key in WARMUP:  # a warm-up given one way must not be overridden by DCFT's other way
                if key not in block:
                    other = WARMUP[1 - WARMUP.index(key)]
                    block[key] = (None, f"the source sets {other}")
    return sets


def _line(key: str, value, source: str, indent: str = "") -> str:
    text = "null" if value is None else value if isinstance(value, str) else repr(value)
    return f"{indent}{key}: {text}".ljust(28) + f"# {source}"


def _yaml(set_name: str, values: dict[str, tuple], baselines: dict[str, dict[str, tuple]]) -> str:
    lines = [f"# Generated by scripts/import_hparams.py ({set_name} set); do not edit by hand. Sources per value.",
             f"set: {set_name}"]
    lines += [_line(key, *values[key]) for key in KEYS]
    if baselines:
        lines.append("baselines:  # each method's own settings where its paper row comes from another paper")
        for method, block in sorted(baselines.items()):
            lines.append(f"  {method}:")
            lines += [_line(key, *block[key], indent="    ") for key in sorted(block)]
    return "\n".join(lines) + "\n"


def _differences(released: dict, paper: dict) -> str:
    lines = ["# Where the two hyper-parameter sets differ", "",
             "Generated by `scripts/import_hparams.py` (`make hparams`); choose a set with `hparams_set=released` "
             "(default) or `hparams_set=paper`. Sources: see each file's comments and the script's docstring.", "",
             "| model | task | setting | released | paper | paper's source |", "|---|---|---|---|---|---|"]
    for key in sorted(released):
        for setting in KEYS:
            (a, _), (b, source) = released[key][setting], paper[key][setting]
            if a != b:
                lines.append(f"| {key[0]} | {key[1]} | {setting} | {a} | {b} | {source} |")
    return "\n".join(lines) + "\n"


def render() -> dict[str, str]:
    """Every generated file: path relative to dcft/conf/hparams -> text."""
    released = released_sets()
    paper = paper_sets(released)
    baselines = baseline_sets()
    unknown = sorted(set(baselines) - set(released))
    if unknown:
        raise SystemExit(f"{BASELINES_CSV}: (model, task) {unknown} have no DCFT settings to sit beside")
    files = {}
    for set_name, sets in (("released", released), ("paper", paper)):
        for (model, task), values in sorted(sets.items()):
            files[f"{set_name}/{model}_{task}.yaml"] = _yaml(set_name, values, baselines.get((model, task), {}))
    files["DIFFERENCES.md"] = _differences(released, paper)
    return files


def main() -> None:
    files = render()
    for set_name in ("released", "paper"):
        folder = OUT / set_name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.yaml"):
            old.unlink()
    for name, text in files.items():
        (OUT / name).write_text(text)
    print(f"wrote {len(files) - 1} hparams files to {OUT.relative_to(ROOT)}/{{released,paper}} and DIFFERENCES.md")


if __name__ == "__main__":
    main()
