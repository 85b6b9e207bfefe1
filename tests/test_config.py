"""Every (model, task, method) composes with Hydra's compose API and converts to typed settings."""


import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from dcft.config import from_hydra
from dcft.errors import UserError
from dcft.paths import CONF_DIR

CONF = CONF_DIR
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
TASKS = sorted(p.stem for p in (CONF / "task").glob("*.yaml"))
ALL_METHODS = sorted(p.stem for p in (CONF / "method").glob("*.yaml"))


def _preset_of(name: str) -> str | None:
    """A preset (dcft_d8, fourierft_n208, ...) starts from another method's file: `defaults: [<method>]`."""
    defaults = OmegaConf.load(CONF / "method" / f"{name}.yaml").get("defaults") or []
    return str(defaults[0]) if defaults else None


PRESETS = {m: base for m in ALL_METHODS if (base := _preset_of(m))}  # presets -> their method, for sweeps
METHODS = [m for m in ALL_METHODS if m not in PRESETS]


def load(*overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return from_hydra(compose(config_name="config", overrides=list(overrides)), overrides=list(overrides))


def compose_all(pairs):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return [from_hydra(compose(config_name="config", overrides=list(o)), overrides=list(o)) for o in pairs]


def test_every_model_task_pair_composes_in_both_hyperparameter_sets():
    """Every model x task (each hparams file and each task's fallback), in both sets."""
    assert len(MODELS) >= 7 and len(TASKS) == 10
    for hp in ("released", "paper"):
        pairs = [(f"model={m}", f"task={t}", f"hparams_set={hp}") for m in MODELS for t in TASKS]
        for (model, task, _), cfg in zip(pairs, compose_all(pairs), strict=True):
            assert f"model={cfg.model.name}" == model and f"task={cfg.task}" == task
            assert cfg.hparams_set == hp and cfg.cell.settings_id.startswith(hp + "-")
            assert cfg.trainer.lr > 0 and cfg.trainer.max_length > 0
            assert f"/{cfg.model.name}/{cfg.task}/{cfg.method_tag}/{cfg.cell.settings_id}/" in cfg.run_dir


def test_every_method_composes_with_each_task_family():
    assert len(METHODS) >= 9
    # every method on each task family; presets (a method's yaml with other values) on one task
    pairs = [(f"method={m}", f"task={t}") for m in ALL_METHODS
             for t in (("rte",) if m in PRESETS else ("rte", "stsb", "squad_v2"))]
    for (method, _), cfg in zip(pairs, compose_all(pairs), strict=True):
        name = method.split("=")[1]
        assert cfg.method == PRESETS.get(name, name)


def test_dcft_presets_share_cells_with_plain_dcft():
    presets = [m for m in ALL_METHODS if m.startswith("dcft_")]
    assert len(presets) == 12
    for preset in presets:
        cfg = load(f"method={preset}")
        plain = load("method=dcft", f"kernel={cfg.method_options['kernel']}", f"stride={cfg.method_options['stride']}",
                     f"method.targets={cfg.method_options['targets']}")
        assert cfg.method == "dcft" and cfg.method_tag == plain.method_tag and cfg.run_dir == plain.run_dir


def test_other_presets_share_cells_with_their_method_and_settings():
    others = {m: base for m, base in PRESETS.items() if base != "dcft"}
    assert {"fourierft_n208": "fourierft", "waveft_n208": "waveft"}.items() <= others.items()
    for preset, base in others.items():
        own = {k: v for k, v in OmegaConf.load(CONF / "method" / f"{preset}.yaml").items() if k != "defaults"}
        cfg, plain = load(f"method={preset}"), load(f"method={base}", *[f"method.{k}={v}" for k, v in own.items()])
        assert cfg.method == base and cfg.method_tag == plain.method_tag and cfg.run_dir == plain.run_dir


def test_authors_settings_follow_the_model_and_task():
    rte = load("task=rte")
    assert (rte.trainer.lr, rte.trainer.epochs, rte.trainer.max_length, rte.seed) == (1.2e-3, 50, 320, 6)
    assert rte.method_options["scaling"] == 16.0 and rte.method_options["orth_coef"] == 0.3
    xx = load("model=deberta-v2-xxlarge", "task=rte")
    assert (xx.trainer.lr, xx.trainer.batch_size, xx.method_options["scaling"]) == (2e-4, 16, 1.0)
    ada = load("model=roberta-large", "task=cola", "method=adalora")
    assert (ada.method_options["tinit"], ada.method_options["tfinal"], ada.method_options["target_r"]) == (800, 3500, 2)
    squad = load("task=squad_v2")  # AdaLoRA's v2.0 launch script
    assert (squad.trainer.lr, squad.trainer.batch_size, squad.trainer.epochs, squad.trainer.warmup_steps) == \
        (1e-3, 16, 12, 1000)
    assert squad.method_options["scaling"] == 8.0 and squad.task_settings["doc_stride"] == 128


def test_paper_set_takes_tables_9_and_10_over_the_scripts():
    cola = load("task=cola", "hparams_set=paper")
    assert (cola.trainer.lr, cola.method_options["scaling"], cola.method_options["orth_coef"]) == (5e-4, 4.0, 0.5)
    assert cola.trainer.cls_dropout == 0.1 and cola.trainer.max_length == 64  # Table 9's γ; the script's length
    qnli = load("task=qnli", "hparams_set=paper")
    assert (qnli.trainer.lr, qnli.trainer.epochs) == (1.2e-3, 6)
    assert load("task=qqp", "hparams_set=paper").trainer.epochs == 20
    squad = load("task=squad_v2", "hparams_set=paper")
    assert (squad.trainer.epochs, squad.trainer.warmup_steps, squad.method_options["scaling"]) == (24, 1000, 1.3333)
    roberta = [load("model=roberta-large", "task=rte", f"hparams_set={s}") for s in ("released", "paper")]
    assert roberta[0].computing == roberta[1].computing  # the paper prints nothing for RoBERTa-large
    assert roberta[0].cell.settings_id != roberta[1].cell.settings_id  # ... yet the set names its cells


def test_top_level_kernel_stride_and_overrides():
    cfg = load("kernel=4")
    assert cfg.method_options["kernel"] == 4 and cfg.method_options["stride"] == 4 and cfg.method_tag == "dcft-d4-s4"
    cfg = load("kernel=8", "stride=2", "trainer.lr=5e-3", "method.targets=qkvo_paper")
    assert cfg.method_tag == "dcft-d8-s2-qkvo_paper" and cfg.trainer.lr == 5e-3
    cfg = load("method=lora", "method.lr=2e-4")  # per-method learning rate
    assert cfg.trainer.lr == 2e-4 and cfg.method_tag == "lora-r1" and "/lr0.0002/" in cfg.run_dir
    cfg = load("method=lora", "method.targets=qv")  # LoRA on Q,V is not LoRA on all six groups
    assert cfg.method_tag == "lora-r1-qv" and "/lora-r1-qv/" in cfg.run_dir


# One cell per computation: each setting below changes what a run computes.
BASE = ("model=bert-base", "task=rte")
COMPUTING = {
    "dcft": ["kernel=4", "stride=4", "method.rank=2", "method.targets=qv", "method.scaling=2",
             "method.orth_coef=0", "method.impl=reference", "method.init_std=0.1"],
    "lora": ["method.r=2", "method.alpha=8", "method.targets=qv", "method.dropout=0.1"],
    "dora": ["method.r=2", "method.alpha=8", "method.targets=qv"],
    "lora_fa": ["method.r=2", "method.alpha=8", "method.targets=qk"],
    "adalora": ["method.init_r=4", "method.target_r=2", "method.tinit=10", "method.tfinal=20", "method.delta_t=5",
                "method.orth_coef=0.5", "method.alpha=8"],
    "ia3": ["method.targets=all"],
    "vera": ["method.r=16", "method.targets=qv"],
    "full": [],
    "bitfit": [],
    "hadapter": ["method.bottleneck=4", "method.activation=gelu", "method.init_std=0.1"],
    "padapter": ["method.bottleneck=4", "method.activation=gelu", "method.init_std=0.1"],
    "sora": ["method.r_max=4", "method.alpha=8", "method.dropout=0.1", "method.l1_coef=1", "method.xi=0.01",
             "method.gate_lr=0.1", "method.prox=soft", "method.targets=qv"],
    "c3a": ["method.block_size=16", "method.targets=all", "method.init=zeros"],
    "fourierft": ["method.n_frequency=100", "method.scaling=10", "method.random_loc_seed=1", "method.targets=qv"],
    "waveft": ["method.n_frequency=100", "method.scaling=10", "method.wavelet_family=db2", "method.random_loc_seed=1",
               "method.targets=qv"],
}
SHARED = ["trainer.lr=1e-3", "seed=1", "hparams_set=paper", "trainer.epochs=3", "trainer.batch_size=8",
          "trainer.max_length=64", "trainer.warmup_steps=7", "trainer.weight_decay=0.05", "trainer.cls_dropout=0.3",
          "trainer.max_steps=11", "trainer.eval_steps=9", "trainer.grad_accum=2", "trainer.max_grad_norm=0.5",
          "trainer.mixed_precision=bf16", "trainer.adam_eps=1e-6", "data.max_train_samples=100",
          "data.max_eval_samples=50", "model.random_init=true", "model.train_pooler=false"]
SAME_CELL = ["logger=none", "trainer.eval_batch_size=7", "trainer.checkpoint_every=5", "trainer.num_workers=1",
             "trainer.threads=1", "trainer.save_predictions=false", "trainer.reporting_rule=final",
             "data.dir=/somewhere", "data.cache=false", "model.path=/elsewhere", "overwrite=true"]


def distinct_cells(variants):
    runs = compose_all(variants)
    cells = [cfg.run_dir for cfg in runs]
    assert len(set(cells)) == len(cells), [v[-1] for v, c in zip(variants, cells, strict=True) if cells.count(c) > 1]
    assert len({cfg.record_path for cfg in runs}) == len(runs)
    return runs


@pytest.mark.parametrize("method", sorted(COMPUTING))
def test_every_setting_of_a_method_names_its_cell(method):
    assert set(COMPUTING) == set(METHODS)
    base = [*BASE, f"method={method}"]
    distinct_cells([base] + [[*base, o] for o in [*COMPUTING[method], "trainer.lr=1e-3", "seed=1"]])


@pytest.mark.parametrize("method", ["dcft", "full"])  # the cell reads trainer/data/model settings alike for all
def test_training_settings_name_the_cell_and_logging_ones_do_not(method):
    base = [*BASE, f"method={method}"]
    runs = distinct_cells([base] + [[*base, o] for o in SHARED])
    same = compose_all([[*base, o] for o in SAME_CELL])
    assert {cfg.run_dir for cfg in same} == {runs[0].run_dir}, [o for o, c in zip(SAME_CELL, same, strict=True)
                                                                 if c.run_dir != runs[0].run_dir]


def test_dcft_shortcuts_given_to_another_method_are_errors():
    with pytest.raises(UserError, match="kernel=2 is a DCFT setting; method=lora does not use it"):
        load("method=lora", "kernel=2")
    with pytest.raises(UserError, match="stride=1 is a DCFT setting; method=full"):
        load("method=full", "stride=1")
    with pytest.raises(UserError, match="kernel=2 is ignored: this method preset fixes kernel=8"):
        load("method=dcft_d8", "kernel=2")
    assert load("method=dcft", "kernel=2").method_tag == "dcft-d2-s2"


def test_bad_trainer_values_are_user_errors():
    with pytest.raises(UserError, match="mixed_precision"):
        load("trainer.mixed_precision=fp8")


def test_minilm_study_gives_each_method_its_grid_and_its_documented_weight_decay():
    """The study's per-method lr grid (base x lr_x) and weight decay: 0.01 for every method but C3A and FourierFT,
    whose library (C3A: 1e-5) and authors (FourierFT: 0) use less at their large lrs."""
    study = ("+experiment=minilm_study", "task=stsb", "lr_x=3")
    c3a, fourierft, lora, dcft = compose_all([(*study, f"method={m}") for m in ("c3a", "fourierft_n208", "lora",
                                                                               "dcft_d8")])
    assert (c3a.trainer.lr, c3a.trainer.weight_decay) == (pytest.approx(3e-2), 1e-5)
    assert (fourierft.trainer.lr, fourierft.trainer.weight_decay) == (pytest.approx(3e-2), 0.0)
    assert (lora.trainer.lr, lora.trainer.weight_decay) == (pytest.approx(3e-4), 0.01)
    assert (dcft.trainer.lr, dcft.trainer.weight_decay) == (pytest.approx(3e-3), 0.01)
    (c3a_decayed,) = compose_all([(*study, "method=c3a", "trainer.weight_decay=0.01")])
    assert c3a.cell.settings_id != c3a_decayed.cell.settings_id  # its records are kept apart
