"""python -m dcft task=rte method=dcft kernel=8: the same as run.py, for an installed package."""

from dcft.cli import main

main()
