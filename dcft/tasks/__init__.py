"""The task registry: a new task = one spec entry in its family module + one conf/task/<name>.yaml."""

from __future__ import annotations

from dcft.errors import UserError
from dcft.tasks.base import DataOptions, EvalSet, PreparedData, Task

GLUE = ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte")
SQUAD = ("squad", "squad_v2")


def get_task(name: str) -> Task:
    """The Task object for a task name (imports the family lazily: SQuAD code is not needed for GLUE)."""
    if name in GLUE:
        from dcft.tasks.glue import GlueTask

        return GlueTask(name)
    if name in SQUAD:
        from dcft.tasks.squad import SquadTask

        return SquadTask(name)
    raise UserError(f"task={name!r} is unknown; choose one of {', '.join(GLUE + SQUAD)}")


__all__ = ["GLUE", "SQUAD", "DataOptions", "EvalSet", "PreparedData", "Task", "get_task"]
