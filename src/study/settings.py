"""The composed configuration as a stage's code sees it: a read-only mapping that records every
setting the stage reads, so a test can hold dvc.yaml's ``params`` to what each stage really
depends on (tests/test_params_coverage.py). A setting DVC does not track is one whose change
silently leaves a stage's outputs stale.

A *setting* is a leaf (a number, string, boolean, null or list): reading it, by ``section[key]``,
``section.key`` or ``section.get(key)``, records its dotted path (``linear.grid.lr``). Reaching a
sub-section records nothing by itself, nor does iterating over keys or asking ``key in
section``. Copying a section (``dict(section)``, ``{**section}``) reads every setting in it: to
lay values over a section without reading the rest, use ``section.with_values(...)``.

With $BARENET_SETTINGS_LOG set to a file, each setting a process reads is appended to it once,
as "<the stage's command line>\\t<dotted path>"; forked workers append theirs too."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping

LOG_ENV = "BARENET_SETTINGS_LOG"
_logged: set[str] = set()  # paths this process (or the one it forked from) already wrote


def _record(path: str) -> None:
    log = os.environ.get(LOG_ENV)
    if not log or path in _logged:
        return
    _logged.add(path)
    command = " ".join(sys.argv)  # the stage, as dvc.yaml's cmd names it
    with open(log, "a", encoding="utf-8") as file:  # one short append: whole lines
        file.write(f"{command}\t{path}\n")


class Settings(Mapping):
    """A read-only view of a nested configuration (plain dicts and lists) that records each
    setting read (see the module). ``overrides`` are values laid over this section that were not
    read from the configuration, so reading them records nothing."""

    def __init__(self, data: Mapping, path: str = "", overrides: Mapping | None = None):
        self._data, self._path, self._overrides = data, path, dict(overrides or {})

    def with_values(self, values: Mapping) -> Settings:
        """This section with ``values`` laid over it (e.g. a sweep point's lr), without reading
        any other setting of it."""
        return Settings(self._data, self._path, {**self._overrides, **values})

    def __getitem__(self, key: str):
        if key in self._overrides:
            return self._overrides[key]
        value = self._data[key]
        path = f"{self._path}.{key}" if self._path else str(key)
        if isinstance(value, Mapping):
            return Settings(value, path)
        _record(path)
        return value

    def __getattr__(self, key: str):
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"no setting {self._qualified(key)!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._overrides or key in self._data

    def __iter__(self) -> Iterator[str]:
        yield from self._data
        yield from (key for key in self._overrides if key not in self._data)

    def __len__(self) -> int:
        return len(set(self._data) | set(self._overrides))

    def _qualified(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def to_dict(self) -> dict:
        """A plain copy, every setting in it read."""
        return {key: value.to_dict() if isinstance(value, Settings) else value
                for key, value in self.items()}

    def __repr__(self) -> str:
        return f"Settings({self._path or '<root>'}: {sorted(self)})"


def overlaid(section: Mapping, values: Mapping) -> Mapping:
    """``section`` with ``values`` laid over it; a ``Settings`` section stays one, so what the
    caller reads of it is still recorded (and nothing else is)."""
    if isinstance(section, Settings):
        return section.with_values(values)
    return {**section, **values}
