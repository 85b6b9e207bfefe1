"""Parameter accounting against the paper's printed #Params columns (SPEC §3), on meta-device models."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT

from dcft.params import count_parameters, format_binary, model_spec_from_conf


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
    assert format_binary(n, "M", 3) == printed


@pytest.mark.parametrize(
    "stride,exact,printed,decimals", [(1, 169_488, "165.5K", 1), (2, None, "85K", 0), (4, None, "44.9K", 1)]
)
def test_table5_strides_at_kernel_8(stride, exact, printed, decimals):
    n = count("deberta-v3-base", kernel=8, stride=stride)
    if exact is not None:
        assert n == exact
    assert format_binary(n, "K", decimals) == printed


def test_table5_stride_8_is_the_one_misprint():
    assert format_binary(count("deberta-v3-base", kernel=8, stride=8), "K", 2) == "24.75K"  # printed 24.6K


@pytest.mark.parametrize(
    "model,kernel,printed", [("roberta-large", 8, "0.06M"), ("roberta-large", 2, "0.21M"),
                             ("deberta-v2-xxlarge", 8, "0.18M")],
)
def test_tables_1_and_2_other_models(model, kernel, printed):
    assert format_binary(count(model, kernel=kernel), "M", 2) == printed


@pytest.mark.parametrize(
    "targets,exact,printed",
    [("qk", 6_144, "6K"), ("qv", 6_144, "6K"), ("qkv", 9_216, "9K"), ("qkvo_paper", 18_816, "18.4K"),
     ("all", 25_344, "24.75K")],
)
def test_table6_target_groups(targets, exact, printed):
    n = count("deberta-v3-base", kernel=8, targets=targets)
    assert n == exact
    decimals = 0 if printed.endswith("K") and "." not in printed else len(printed.split(".")[1]) - 1
    assert format_binary(n, "K", decimals) == printed


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
