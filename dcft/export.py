"""Export a run as a plain transformers model: the backbone with the method's update merged in, plus the head.

    python -m dcft.export <run_dir> <out_dir> [--overwrite]

The directory loads with `AutoModelForSequenceClassification.from_pretrained(out_dir)` (QA runs: ...ForQuestion
Answering) and no project code. It is the run's saved adapter (its best dev step, the one behind
`predictions_validation.jsonl`) merged into the weights. Methods that add modules the architecture lacks
(bottleneck adapters) cannot be merged and are refused in one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dcft.adapters import CONFIG, read_adapter_config
from dcft.errors import UserError

USAGE_RUN_DIR = "a run directory: results/outputs/<model>/<task>/<method tag>/<settings id>/lr<lr>/seed<k>"


def _check_run_dir(run_dir: Path) -> None:
    if not run_dir.is_dir():
        raise UserError(f"run_dir={str(run_dir)!r} is not a directory; pass {USAGE_RUN_DIR}")
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"run_dir={str(run_dir)!r} has no config.yaml, so it is not a run directory; pass "
                        f"{USAGE_RUN_DIR}")
    if not (run_dir / "adapter" / CONFIG).is_file():
        raise UserError(f"run_dir={str(run_dir)!r} has no adapter/ (the run never evaluated, or ran with "
                        "trainer.save_adapter=false); rerun it with trainer.save_adapter=true")


def _run_config(run_dir: Path):
    from omegaconf import OmegaConf

    from dcft.config import from_hydra

    return from_hydra(OmegaConf.load(run_dir / "config.yaml"), overrides=[])


def _label_names(task) -> list[str] | None:
    spec = getattr(task, "spec", None)
    names = getattr(spec, "label_names", None)
    if names and not getattr(spec, "is_regression", False) and len(names) == task.num_labels:
        return list(names)
    return None


def export_run(run_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Rebuild the run's model, load its adapter, merge, and write a plain HF model directory to `out_dir`."""
    from accelerate.utils import set_seed

    from dcft.adapters import load_adapter
    from dcft.io_utils import atomic_write_dir
    from dcft.models import build_model
    from dcft.tasks import get_task

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    _check_run_dir(run_dir)
    method = read_adapter_config(run_dir / "adapter")["method"]
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise UserError(f"out_dir={str(out_dir)!r} exists and is not empty; pass --overwrite or another directory")
    cfg = _run_config(run_dir)
    task = get_task(cfg.task, cfg.task_family)
    set_seed(cfg.seed)  # as the trainer does before building: a random-init backbone comes out the same
    model = build_model(cfg.model, task.head, task.num_labels, cfg.trainer.cls_dropout)
    adapted = load_adapter(model, run_dir / "adapter")
    if adapted.merged_model is None:
        raise UserError(f"method {method} cannot be exported as a plain {type(model).__name__}: its adapters add "
                        "modules the architecture lacks; only methods that merge into the weights export")
    plain = adapted.merged_model().eval()
    names = _label_names(task)
    if names:
        plain.config.id2label = dict(enumerate(names))
        plain.config.label2id = {name: i for i, name in enumerate(names)}

    def fill(tmp: Path) -> None:
        plain.save_pretrained(tmp)
        _save_tokenizer(cfg.model, tmp)

    atomic_write_dir(out_dir, fill)
    return out_dir


def _save_tokenizer(spec, directory: Path) -> None:
    """The run's tokenizer beside the weights when it can be loaded here (a note otherwise: the model still loads)."""
    from dcft.models import tokenizer_source
    from dcft.tokenizers import load_tokenizer

    try:
        load_tokenizer(tokenizer_source(spec)).save_pretrained(str(directory))
    except (UserError, OSError, ValueError) as exc:
        print(f"note: tokenizer not saved ({str(exc).splitlines()[0][:200]})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dcft.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help=USAGE_RUN_DIR)
    parser.add_argument("out_dir", help="where to write the transformers model directory")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty out_dir")
    args = parser.parse_args(argv)
    from dcft.cli import quiet_libraries

    quiet_libraries()
    try:
        out = export_run(args.run_dir, args.out_dir, args.overwrite)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    record = Path(args.run_dir) / "record.json"
    status = json.loads(record.read_text()).get("status") if record.is_file() else None
    if status != "finished":
        print(f"note: the run's status is {status!r}; exported its best adapter so far", file=sys.stderr)
    architecture = json.loads((out / "config.json").read_text()).get("architectures", ["?"])[0]
    print(f"exported {args.run_dir} -> {out} ({architecture}; load it with transformers' from_pretrained)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
