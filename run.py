"""python run.py task=rte method=dcft kernel=8   (see README.md; `-m` sweeps; `--help`)."""

from dcft.cli import main

if __name__ == "__main__":
    main()
