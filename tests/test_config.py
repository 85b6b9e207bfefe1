"""Every (model, task, method) composes with Hydra's compose API and converts to typed settings."""

import itertools

import pytest
from hydra import compose, initialize_config_dir

from dcft.config import from_hydra
from dcft.errors import UserError
from dcft.paths import CONF_DIR

CONF = CONF_DIR
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
TASKS = sorted(p.stem for p in (CONF / "task").glob("*.yaml"))
ALL_METHODS = sorted(p.stem for p in (CONF / "method").glob("*.yaml"))
METHODS = [m for m in ALL_METHODS if not m.startswith("dcft_")]  # dcft_* are DCFT presets for sweeps


def load(*overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return from_hydra(compose(config_name="config", overrides=list(overrides)))


def test_every_combination_composes():
    assert len(MODELS) >= 7 and len(TASKS) == 10 and len(METHODS) == 9
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for model, task, method in itertools.product(MODELS, TASKS, METHODS):
            cfg = from_hydra(compose(config_name="config", overrides=[f"model={model}", f"task={task}",
                                                                       f"method={method}"]))
            assert cfg.model.name == model and cfg.task == task and cfg.method == method
            assert cfg.trainer.lr > 0 and cfg.trainer.max_length > 0
            assert f"/{model}/{task}/{cfg.method_tag}/" in cfg.run_dir


def test_dcft_presets_share_cells_with_plain_dcft():
    presets = [m for m in ALL_METHODS if m.startswith("dcft_")]
    assert len(presets) == 12
    for preset in presets:
        cfg = load(f"method={preset}")
        plain = load("method=dcft", f"kernel={cfg.method_options['kernel']}", f"stride={cfg.method_options['stride']}",
                     f"method.targets={cfg.method_options['targets']}")
        assert cfg.method == "dcft" and cfg.method_tag == plain.method_tag and cfg.run_dir == plain.run_dir


def test_authors_settings_follow_the_model_and_task():
    rte = load("task=rte")
    assert (rte.trainer.lr, rte.trainer.epochs, rte.trainer.max_length, rte.seed) == (1.2e-3, 50, 320, 6)
    assert rte.method_options["scaling"] == 16.0 and rte.method_options["orth_coef"] == 0.3
    xx = load("model=deberta-v2-xxlarge", "task=rte")
    assert (xx.trainer.lr, xx.trainer.batch_size, xx.method_options["scaling"]) == (2e-4, 16, 1.0)
    ada = load("model=roberta-large", "task=cola", "method=adalora")
    assert (ada.method_options["tinit"], ada.method_options["tfinal"], ada.method_options["target_r"]) == (800, 3500, 2)
    squad = load("task=squad")
    assert (squad.trainer.lr, squad.trainer.batch_size, squad.trainer.epochs) == (1e-3, 16, 25)
    assert squad.task_settings["doc_stride"] == 128


def test_top_level_kernel_stride_and_overrides():
    cfg = load("kernel=4")
    assert cfg.method_options["kernel"] == 4 and cfg.method_options["stride"] == 4 and cfg.method_tag == "dcft-d4-s4"
    cfg = load("kernel=8", "stride=2", "trainer.lr=5e-3", "method.targets=qkvo_paper")
    assert cfg.method_tag == "dcft-d8-s2-qkvo_paper" and cfg.trainer.lr == 5e-3
    cfg = load("method=lora", "method.lr=2e-4")  # per-method learning rate
    assert cfg.trainer.lr == 2e-4 and cfg.method_tag == "lora-r1" and "/lr0.0002/" in cfg.run_dir


def test_bad_trainer_values_are_user_errors():
    with pytest.raises(UserError, match="mixed_precision"):
        load("trainer.mixed_precision=fp8")
