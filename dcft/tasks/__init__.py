"""The task registry: a new task = one spec entry in its family's module (e.g. glue_tsv.GLUE_TASKS) + one
`conf/task/<name>.yaml` naming that family; a new family = one module with a Task class + one row in FAMILIES."""

from __future__ import annotations

import importlib

from dcft.errors import UserError
from dcft.tasks.base import DataOptions, EvalSet, PreparedData, Task

# family (conf/task/<name>.yaml `family:`) -> its Task class, imported on first use (SQuAD code is not needed
# for GLUE). The class takes the task name and rejects names its family does not know.
FAMILIES = {
    "glue": "dcft.tasks.glue:GlueTask",
    "squad": "dcft.tasks.squad:SquadTask",
}


def get_task(name: str, family: str) -> Task:
    """The Task object for a task of a family."""
    if family not in FAMILIES:
        raise UserError(f"task {name}: family={family!r} is unknown; choose one of {', '.join(FAMILIES)}")
    module, _, cls = FAMILIES[family].partition(":")
    return getattr(importlib.import_module(module), cls)(name)


__all__ = ["FAMILIES", "DataOptions", "EvalSet", "PreparedData", "Task", "get_task"]
