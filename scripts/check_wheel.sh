#!/usr/bin/env bash
# Packaging check: build a wheel, install it in a fresh virtual environment, and run a dry run from outside the
# source tree (the configs must come from the installed package). Used by CI (make check-wheel).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python -m pip wheel -q --no-deps -w "$work/dist" "$root"
python -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
"$work/venv/bin/python" -m pip install -q torch==2.13.0   # CPU build; an unpinned torch pulls a CUDA one
"$work/venv/bin/python" -m pip install -q "$work"/dist/dcft_harness-*.whl
cd "$work"
out="$("$work/venv/bin/dcft-run" model=deberta-v3-base method=dcft kernel=8 dry_run=true results_dir="$work/r")"
echo "$out" | tail -n 1
echo "$out" | tail -n 1 | grep -q '"trainable_params": 25344' || { echo "wheel: wrong dry-run count" >&2; exit 1; }
"$work/venv/bin/python" -m dcft --help | grep -q "DCFT reproduction harness" || { echo "wheel: no help" >&2; exit 1; }
echo "wheel: installs, finds its configs outside the source tree, counts DCFT d=8 on DeBERTaV3-base = 25,344"
