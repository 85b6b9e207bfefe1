"""python run.py task=rte method=dcft kernel=8   (see README.md; `-m` sweeps)."""

import hydra
from omegaconf import DictConfig

import dcft.config  # noqa: F401  (registers the resolvers conf/ uses)
from dcft.cli import run_from_hydra


@hydra.main(version_base="1.3", config_path="dcft/conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_from_hydra(cfg)


if __name__ == "__main__":
    main()
