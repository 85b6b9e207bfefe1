"""GLUE raw loading: the hub (`nyu-mll/glue`) or the classic offline `glue_data/` TSVs (parsed by glue_tsv).

Both sources yield the same DatasetDict (hub column names, hub label ids, `idx`), so everything
downstream (tokenisation, scoring, predictions) is source-agnostic.
"""

from __future__ import annotations

import datasets

from dcft import hub
from dcft.errors import UserError
from dcft.tasks.glue_tsv import GLUE_TASKS, GlueSpec, TsvLayout, get_spec, read_tsv, source_files

__all__ = ["GLUE_TASKS", "HUB_PATH", "GlueSpec", "TsvLayout", "get_spec", "glue_features", "load_glue_raw",
           "source_files"]

HUB_PATH = "nyu-mll/glue"


def glue_features(spec: GlueSpec) -> datasets.Features:
    """The hub's feature schema, so offline data is indistinguishable from hub data."""
    label = (datasets.Value("float32") if spec.is_regression
             else datasets.ClassLabel(names=list(spec.label_names)))
    cols = {c: datasets.Value("string") for c in spec.text_columns}
    return datasets.Features({**cols, "label": label, "idx": datasets.Value("int32")})


def load_glue_raw(task: str, data_dir: str | None) -> datasets.DatasetDict:
    """Splits `train` + the task's eval splits; columns = text columns, `label`, `idx` (hub names and ids)."""
    spec = get_spec(task)
    if data_dir is None:
        return _load_hub(spec)
    paths = source_files(task, data_dir)
    features = glue_features(spec)
    return datasets.DatasetDict({
        split: datasets.Dataset.from_dict(read_tsv(spec, path), features=features)
        for (split, _), path in zip(spec.layout.files, paths, strict=True)
    })


def _load_hub(spec: GlueSpec) -> datasets.DatasetDict:
    try:
        hub.announce("dataset", f"{HUB_PATH}/{spec.name}")
        full = datasets.load_dataset(HUB_PATH, spec.name)
    except Exception as e:  # network, auth, missing config: all mean "use the offline copy"
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UserError(f"could not load {HUB_PATH}/{spec.name} from the Hugging Face hub "
                        f"({type(e).__name__}: {first}); the hub is unreachable or the dataset missing: "
                        f"set data.dir=<glue_data root> to read the classic TSV files instead.") from e
    return datasets.DatasetDict({s: full[s] for s in ("train", *spec.eval_splits)})
