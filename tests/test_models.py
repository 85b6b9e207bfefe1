"""Building backbones with their task heads: which config fields the task decides."""

import pytest
from conftest import TINY_ARCHS

from dcft.models import ModelSpec, build_model


@pytest.mark.parametrize("family,expected", [("deberta-v2", 0.3), ("bert", 0.1), ("roberta", 0.1)])
def test_cls_dropout_reaches_debertas_head_only(family, expected):
    """The released code (and transformers) apply cls_dropout in DeBERTa's head; BERT/RoBERTa heads keep the
    hidden dropout (0.1 in these configs), whatever the task's cls_dropout says."""
    spec = ModelSpec(name=family, arch=dict(TINY_ARCHS[family]), random_init=True)
    model = build_model(spec, "sequence_classification", num_labels=2, cls_dropout=0.3)
    head_dropout = {n: m.p for n, m in model.named_modules() if n in ("dropout", "classifier.dropout")}
    assert list(head_dropout.values()) == [expected], head_dropout  # the dropout before the classifier
