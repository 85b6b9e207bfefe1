"""Every method trains a few steps with the QA head (tiny model, tiny SQuAD fixture written here)."""

import json

import pytest
from conftest import compose_and_run, tiny_overrides

METHODS = {
    "dcft": ["method=dcft", "kernel=4"], "lora": ["method=lora"], "dora": ["method=dora"],
    "lora_fa": ["method=lora_fa"], "adalora": ["method=adalora"], "ia3": ["method=ia3"],
    "vera": ["method=vera", "method.r=8"], "full": ["method=full"], "bitfit": ["method=bitfit"],
}
CONTEXT = ("The harness was written in Paris in 2026. It trains adapters on CPU machines. "
           "Its authors like short tests and clear error messages. ") * 3


def squad_file(path, version, n):
    qas = []
    for i in range(n):
        answer = ["Paris", "2026", "CPU machines"][i % 3]
        qa = {"id": f"q{i}", "question": f"What is fact {i}?", "answers": [
            {"text": answer, "answer_start": CONTEXT.index(answer)}]}
        if version == "2.0":
            qa["is_impossible"] = i % 4 == 3
            if qa["is_impossible"]:
                qa["answers"] = []
        qas.append(qa)
    data = {"version": version, "data": [{"title": "T", "paragraphs": [{"context": CONTEXT, "qas": qas}]}]}
    path.write_text(json.dumps(data))


@pytest.fixture
def squad_dir(tmp_path):
    root = tmp_path / "squad"
    root.mkdir()
    for version in ("1.1", "2.0"):
        squad_file(root / f"train-v{version}.json", version, 16)
        squad_file(root / f"dev-v{version}.json", version, 6)
    return root


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_trains_on_squad(tmp_path, squad_dir, minilm_dir, method):
    task = "squad_v2" if method in ("dcft", "adalora") else "squad"
    record, _ = compose_and_run([
        *tiny_overrides(minilm_dir), f"task={task}", f"data.dir={squad_dir}", f"results_dir={tmp_path / 'r'}",
        "logger=none", "trainer.max_steps=2", "trainer.eval_steps=2", "trainer.batch_size=8", "trainer.max_length=64",
        "task.settings.doc_stride=16", *METHODS[method],
    ])
    assert record["status"] == "finished" and record["main_metric"] == "f1"
    metrics = record["final"]["metrics"]
    assert {"exact_match", "f1"} <= set(metrics) and 0 <= metrics["f1"] <= 100
    if task == "squad_v2":
        assert {"HasAns_f1", "NoAns_f1", "best_f1", "best_f1_thresh"} <= set(metrics)
    assert record["params"]["head"] == 32 * 2 + 2  # qa_outputs only
