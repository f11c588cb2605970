"""Progress of a long loop (training epochs, optimiser iterations) that a person can follow.

On a terminal it is a tqdm bar with the latest status beside it. Anywhere else (a log file,
`dvc repro` under CI) it is a few plain lines: the first step, every ``every``-th step with
``every`` chosen so that at most about ``max_lines`` lines appear, and the last step reached
(also when the loop stops early: converged, diverged or interrupted). Never a line per batch,
never hundreds of lines per stage.
"""

from __future__ import annotations

import math
import sys
from typing import TextIO

from tqdm import tqdm

from study.pool import in_worker

LOG_LINES = 10  # lines per loop when the output is not a terminal


class Progress:
    """``with Progress("final@mlp", total=20) as progress: ... progress.update(epoch, text)``
    after each of ``total`` steps (1-based), ``text`` the step's status, e.g. its loss."""

    def __init__(self, label: str, total: int, *, unit: str = "epoch",
                 max_lines: int = LOG_LINES, stream: TextIO | None = None):
        self.label, self.total, self.unit = label, int(total), unit
        self.stream = sys.stdout if stream is None else stream
        self.every = max(1, math.ceil(self.total / max_lines))
        self._pending: str | None = None  # the latest status not yet logged
        is_terminal = getattr(self.stream, "isatty", lambda: False)() and not in_worker()
        self._bar = (tqdm(total=self.total, desc=label, unit=unit, file=self.stream,
                          dynamic_ncols=True, leave=True) if is_terminal else None)

    def update(self, step: int, status: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(status, refresh=False)
            self._bar.update(step - self._bar.n)
            return
        line = f"{self.label} {self.unit} {step}/{self.total}: {status}"
        if step == 1 or step % self.every == 0:
            self._write(line)
            self._pending = None
        else:
            self._pending = line

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._pending is not None:
            self._write(self._pending)
            self._pending = None

    def _write(self, line: str) -> None:
        # one write per line, newline included: print() writes the text and its end apart, and
        # unbuffered (PYTHONUNBUFFERED), two fork_map workers' lines then interleave mid-line
        self.stream.write(line + "\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
