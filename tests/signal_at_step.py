"""`python tests/signal_at_step.py SIGKILL 9 <run.py overrides>`: run.py, but the run sends itself the signal right
after it logs that step.

Tests that interrupt a run from outside race it: a fast machine finished an 8-step run before the SIGKILL landed, and
a checkpoint the test waited for was rotated away between two polls. Sent from inside, the signal lands at the
same step on any machine; it is still the real signal, handled (or not, for SIGKILL) as a cluster's would be.
"""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcft import train  # noqa: E402
from dcft.cli import main  # noqa: E402


def signal_after_step(signum: int, step: int) -> None:
    log_step = train.Trainer._log_step

    def log_then_signal(self, *args, **kwargs):
        log_step(self, *args, **kwargs)
        if self.state.step == step:
            os.kill(os.getpid(), signum)

    train.Trainer._log_step = log_then_signal


if __name__ == "__main__":
    signal_name, at_step, *overrides = sys.argv[1:]
    signal_after_step(getattr(signal, signal_name), int(at_step))
    sys.argv = [sys.argv[0], *overrides]
    main()
