"""Parameter accounting against the paper's printed #Params columns (docs/method.md), on meta-device models."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT
from hydra import compose, initialize_config_dir

from dcft.config import from_hydra
from dcft.dry_run import dry_run
from dcft.params import count_parameters, model_spec_from_conf
from dcft.paths import CONF_DIR
from dcft.results.units import format_params


def count(model, method="dcft", **options):
    return count_parameters(model_spec_from_conf(model), method, options)["trainable_params"]


@pytest.mark.parametrize(
    "kernel,exact,printed",
    [(2, 83_232, "0.079M"), (4, None, "0.041M"), (6, None, "0.029M"), (8, 25_344, "0.024M"), (12, None, "0.023M")],
)
def test_table4_kernel_sizes_deberta_v3_base(kernel, exact, printed):
    n = count("deberta-v3-base", kernel=kernel)
    if exact is not None:
        assert n == exact
    assert format_params(n, "M", decimals=3) == printed


@pytest.mark.parametrize(
    "stride,exact,printed,decimals", [(1, 169_488, "165.5K", 1), (2, None, "85K", 0), (4, None, "44.9K", 1)]
)
def test_table5_strides_at_kernel_8(stride, exact, printed, decimals):
    n = count("deberta-v3-base", kernel=8, stride=stride)
    if exact is not None:
        assert n == exact
    assert format_params(n, "K", decimals=decimals) == printed


def test_table5_stride_8_is_the_one_misprint():
    assert format_params(count("deberta-v3-base", kernel=8, stride=8), "K", decimals=2) == "24.75K"  # printed 24.6K


@pytest.mark.parametrize(
    "model,kernel,printed", [("roberta-large", 8, "0.06M"), ("roberta-large", 2, "0.21M"),
                             ("deberta-v2-xxlarge", 8, "0.18M")],
)
def test_tables_1_and_2_other_models(model, kernel, printed):
    assert format_params(count(model, kernel=kernel), "M", decimals=2) == printed


@pytest.mark.parametrize(
    "targets,exact,printed",
    [("qk", 6_144, "6K"), ("qv", 6_144, "6K"), ("qkv", 9_216, "9K"), ("qkvo_paper", 18_816, "18.4K"),
     ("all", 25_344, "24.75K")],
)
def test_table6_target_groups(targets, exact, printed):
    n = count("deberta-v3-base", kernel=8, targets=targets)
    assert n == exact
    decimals = 0 if printed.endswith("K") and "." not in printed else len(printed.split(".")[1]) - 1
    assert format_params(n, "K", decimals=decimals) == printed


def test_qkvo_natural_reading_differs_from_the_papers():
    assert count("deberta-v3-base", kernel=8, targets="qkvo") == 12 * 4 * (96 + 96 + 64)


def test_lora_r1_baseline():
    n = count("deberta-v3-base", "lora", r=1)
    assert n == 165_888 and f"{n / 1e6:.2f}M" == "0.17M"  # printed in decimal units


@pytest.mark.parametrize("model,layers,hidden,bottleneck,exact,printed", [
    ("deberta-v3-base", 12, 768, 8, 313_536, "0.31M"), ("roberta-large", 24, 1024, 8, 835_968, "0.8M"),
])
def test_hadapter_matches_the_papers_count(model, layers, hidden, bottleneck, exact, printed):
    """Two adapters per layer, each 2·h·r + r + h (the paper's counts are decimal: 313,536 -> 0.31M)."""
    n = count(model, "hadapter")
    assert n == exact == 2 * layers * (2 * hidden * bottleneck + bottleneck + hidden)
    assert f"{n / 1e6:.{len(printed) - 3}f}M" == printed


@pytest.mark.parametrize("model,layers,hidden,bottleneck,exact,printed", [
    ("deberta-v3-base", 12, 768, 16, 304_320, "0.3M"), ("roberta-large", 24, 1024, 16, 811_392, "0.8M"),
])
def test_padapter_matches_the_papers_count(model, layers, hidden, bottleneck, exact, printed):
    n = count(model, "padapter")
    assert n == exact == layers * (2 * hidden * bottleneck + bottleneck + hidden)
    assert f"{n / 1e6:.1f}M" == printed


def test_sora_counts_every_rank_of_r_max():
    """Trainable = r_max·(in + out + 1) per matrix; the record's nonzero count (method_state) shrinks from it."""
    per_layer = 4 * 8 * (768 + 768 + 1) + 2 * 8 * (768 + 3072 + 1)
    assert count("deberta-v3-base", "sora") == 12 * per_layer == 1_327_680


@pytest.mark.parametrize("model,method,options,exact", [
    ("deberta-v3-base", "fourierft", {}, 25_344), ("deberta-v3-base", "waveft", {}, 25_344),
    ("deberta-v3-base", "c3a", {}, 27_648),  # Q,K,V at block 768: the nearest C3A gets (768 per 768x768 matrix)
    ("minilm", "fourierft", {"n_frequency": 208}, 7_488), ("minilm", "c3a", {}, 6_912),
])
def test_rivals_at_dcft_d8_size(model, method, options, exact):
    n = count(model, method, **options)
    assert n == exact
    dcft_d8 = count(model, kernel=8)
    assert abs(n - dcft_d8) / dcft_d8 < 0.1  # within 10% of DCFT d=8 on the same model (equal for FourierFT)


def test_dry_run_cli_prints_summary_and_json_last_line(tmp_path):
    cmd = [sys.executable, "run.py", "model=deberta-v3-base", "method=dcft", "kernel=8", "stride=4", "dry_run=true",
           f"results_dir={tmp_path}"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["trainable_params"] == count("deberta-v3-base", kernel=8, stride=4)
    assert summary["paper_units"]["K"] == "44.9K" and summary["head_params"] == 768 * 768 + 768 + 768 * 2 + 2
    assert summary["total_params"] > 184_000_000
    assert "adapter" in out.stdout and not any(tmp_path.iterdir())  # a dry run writes nothing


def dry_run_counts(model, task, method):
    """What `python run.py +experiment=<table> model=... task=... method=... dry_run=true` prints (its JSON line)."""
    table = "table2" if model == "deberta-v2-xxlarge" else "table1"
    overrides = [f"+experiment={table}", f"model={model}", f"task={task}", f"method={method}", "dry_run=true"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return dry_run(from_hydra(compose(config_name="config", overrides=overrides), overrides=overrides))


def decimal(count, unit, decimals):
    """The baseline rows' units: decimal (M = 10^6, B = 10^9), as the papers they were copied from print them."""
    return f"{count / {'M': 1e6, 'B': 1e9}[unit]:.{decimals}f}{unit}"


# Tables 1-2 baseline rows: (model, task, method) -> our exact count, the paper's print, in the units that match.
@pytest.mark.parametrize(
    "model,task,method,tag,exact,printed,units",
    [("deberta-v3-base", "rte", "full", "full", 183_831_552, "184M", "decimal"),
     ("deberta-v3-base", "sst2", "bitfit", "bitfit", 102_912, "0.1M", "decimal"),  # biases + LayerNorm biases
     ("deberta-v3-base", "rte", "lora", "lora-r1", 165_888, "0.17M", "decimal"),  # r=1 on all six groups
     ("roberta-large", "mrpc", "lora", "lora-r8-qv", 786_432, "0.8M", "decimal"),  # LoRA paper: r=8 on Wq, Wv
     ("deberta-v2-xxlarge", "cola", "lora", "lora-r16-qv", 4_718_592, "4.7M", "decimal"),  # r=16 on Wq, Wv
     ("deberta-v2-xxlarge", "cola", "full", "full", 1_564_549_632, "1.5B", "binary")],  # DeBERTa's "1.5B"
)
def test_tables_1_and_2_baseline_rows(model, task, method, tag, exact, printed, units):
    summary = dry_run_counts(model, task, method)
    n = summary["trainable_params"]
    assert (n, summary["method_tag"]) == (exact, tag)
    unit, decimals = printed[-1], len(printed[:-1].partition(".")[2])
    shown = decimal(n, unit, decimals) if units == "decimal" else f"{n / 2 ** 30:.{decimals}f}{unit}"
    assert shown == printed


def test_roberta_large_full_ft_print_is_a_misprint():
    """The paper prints 335M; RoBERTa-large has 354.3M without its head, 355.4M with it (LoRA paper: 355.0M)."""
    summary = dry_run_counts("roberta-large", "rte", "full")
    assert summary["trainable_params"] == 354_310_144 and decimal(summary["trainable_params"], "M", 0) == "354M"
    assert decimal(summary["total_params"], "M", 0) == "355M"


@pytest.mark.parametrize(
    "model,task,tag,exact,printed",
    [("deberta-v3-base", "rte", "lora_fa-r1", 82_944, 0.12),  # the paper's 0.12M is SoRA's count (a byte copy)
     ("roberta-large", "mrpc", "lora_fa-r8-qv", 393_216, 3.7)],  # no (r, targets) with r a power of two gives 3.7M
)
def test_lora_fa_rows_run_a_stated_configuration_that_the_print_does_not_match(model, task, tag, exact, printed):
    summary = dry_run_counts(model, task, "lora_fa")
    n = summary["trainable_params"]
    assert (n, summary["method_tag"]) == (exact, tag)  # B only: A stays frozen at its random init
    decimals = len(str(printed).partition(".")[2])
    assert printed not in (round(n / 1e6, decimals), round(n / 2**20, decimals))


@pytest.mark.parametrize("model,printed", [("deberta-v3-base", 0.12), ("roberta-large", 3.7)])
def test_no_named_lora_fa_configuration_gives_the_papers_count(model, printed):
    """LoRA-FA trains B only, so its count is r x (the groups' output widths x layers): enumerate every named target
    set and every power-of-two rank, in both units the paper uses."""
    from dcft.methods import GROUP_SETS, GROUPS

    spec = model_spec_from_conf(model)
    per_group = {g: count_parameters(spec, "lora_fa", {"r": 1, "alpha": 1.0, "targets": g})["trainable_params"]
                 for g in GROUPS}
    decimals = len(str(printed).partition(".")[2])
    fits = [(name, r) for name, groups in GROUP_SETS.items() for r in (2**k for k in range(9))
            if printed in (round(r * sum(per_group[g] for g in groups) / 1e6, decimals),
                           round(r * sum(per_group[g] for g in groups) / 2**20, decimals))]
    assert fits == []
    assert per_group["Q"] == spec.arch["hidden_size"] * spec.arch["num_hidden_layers"]  # B: d_out x r per layer
