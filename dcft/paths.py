"""Where things live: the packaged Hydra configs. Standard library only, so every layer may import it."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CONF_DIR = PACKAGE_DIR / "conf"  # the Hydra config tree, shipped inside the package (works from a wheel)
