"""SQuAD v1.1 / v2.0 raw data: the hub (`rajpurkar/squad`, `rajpurkar/squad_v2`) or the official JSON files,
as one Dataset per split with the hub's columns (one row per question). Beside glue_data.py, its GLUE twin."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets

from dcft import hub
from dcft.errors import UserError
from dcft.tasks.base import DataOptions

_VERSIONS = {  # version -> (hub name, train file, dev file)
    "1.1": ("rajpurkar/squad", "train-v1.1.json", "dev-v1.1.json"),
    "2.0": ("rajpurkar/squad_v2", "train-v2.0.json", "dev-v2.0.json"),
}
VERSION_ALIASES = {"squad": "1.1", "squad_v2": "2.0", "1.1": "1.1", "2.0": "2.0", "1": "1.1", "2": "2.0"}
_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "title": datasets.Value("string"),
        "context": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answers": {
            "text": datasets.List(datasets.Value("string")),
            "answer_start": datasets.List(datasets.Value("int32")),
        },
    }
)


def read_squad_json(path: str | Path) -> datasets.Dataset:
    """An official SQuAD JSON file flattened to the hub's columns (one row per question)."""
    try:
        with open(path, encoding="utf-8") as f:
            articles = json.load(f)["data"]
    except (OSError, json.JSONDecodeError, KeyError) as e:
        raise UserError(f"cannot read SQuAD file {str(path)!r} ({e}); pass an official SQuAD JSON.") from e
    rows = [
        {
            "id": qa["id"],
            "title": article.get("title", ""),
            "context": paragraph["context"],
            "question": qa["question"],
            "answers": {
                "text": [a["text"] for a in qa["answers"]],
                "answer_start": [a["answer_start"] for a in qa["answers"]],
            },
        }
        for article in articles
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    return datasets.Dataset.from_list(rows, features=_FEATURES)


def split_by_article(
    examples: datasets.Dataset, n_articles: int
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(first n articles, the rest); articles are runs of equal `title`, in file order."""
    titles = examples["title"]
    starts = [i for i in range(len(titles)) if i == 0 or titles[i] != titles[i - 1]]
    if not 1 <= n_articles < len(starts):
        raise UserError(
            f"data.split_by_article={n_articles} but the dev file has {len(starts)} articles; "
            f"choose 1..{len(starts) - 1} so both train and eval get at least one article."
        )
    cut = starts[n_articles]
    return examples.select(range(cut)), examples.select(range(cut, len(examples)))


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _find_file(root: str, name: str) -> Path | None:
    for folder in (Path(root), Path(root) / "squad"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_raw(version: str, options: DataOptions) -> tuple[datasets.Dataset, datasets.Dataset, str]:
    """(train examples, eval examples, source id for cache keys), before any sample limits."""
    hub_name, train_name, dev_name = _VERSIONS[version]
    by_article = options.split_by_article
    if options.dir is None:
        try:
            hub.announce("dataset", hub_name)
            raw = datasets.load_dataset(hub_name)
        except Exception as e:
            raise UserError(
                f"could not load {hub_name!r} from the Hugging Face hub ({type(e).__name__}: {e}); the hub "
                f"is unreachable here. Put the official {train_name} / {dev_name} in a folder and set "
                f"data.dir=<it> (with data.split_by_article=N the dev file alone is enough)."
            ) from e
        train, dev = raw["train"], raw["validation"]
        source = f"hub:{hub_name}:{train._fingerprint}:{dev._fingerprint}"
    else:
        dev_path = _find_file(options.dir, dev_name)
        train_path = None if by_article else _find_file(options.dir, train_name)
        needed = [name for name, p in ((dev_name, dev_path), (train_name, train_path)) if p is None]
        if needed and (by_article is None or dev_path is None):
            raise UserError(
                f"{', '.join(needed)} not found in data.dir={options.dir!r} (or its squad/ subfolder); "
                f"download the official SQuAD v{version} files there, or set data.split_by_article=N to "
                f"train on the first N articles of {dev_name}."
            )
        dev = read_squad_json(dev_path)
        train = None if train_path is None else read_squad_json(train_path)
        source = f"file:{_file_digest(dev_path)}:{'' if train_path is None else _file_digest(train_path)}"
    if by_article is not None:
        train, dev = split_by_article(dev, by_article)
        source += f":articles{by_article}"
    return train, dev, source
