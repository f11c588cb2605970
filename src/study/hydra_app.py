"""The Hydra entry point every stage script uses.

Stages read the GENERATED params.yaml at the project root (the file DVC tracks), never conf/
directly, so a stage run by `dvc repro` sees exactly the values DVC recorded. The file is
registered in Hydra's ConfigStore rather than found through a config path: a config path at
the project root would make Hydra scan the whole tree (.venv included) for config groups.
Hydra is told to stay out of the workspace: run in place, no .hydra/ subdir, no log files.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

# Hydra settings layered on params.yaml: run in place, no .hydra/ subdir, no log files.
QUIET_HYDRA = {
    "defaults": [{"override hydra/job_logging": "none"},
                 {"override hydra/hydra_logging": "none"}, "_self_"],
    "hydra": {"run": {"dir": "."}, "output_subdir": None},
}


def stage_main(task: Callable[[DictConfig], None]) -> Callable[[], None]:
    """Decorate a stage's ``main(cfg)``; the result runs it as a Hydra app on params.yaml.
    Command-line overrides (``key=value``), ``--help`` (which shows the stage script's
    docstring and every knob) and ``--cfg job`` work as with ``@hydra.main``."""
    script = Path(inspect.getfile(task)).resolve()
    project_root = script.parents[1]  # stages/<x>.py -> the project root
    # the stage script's docstring heads --help; "$" is escaped, Hydra interpolates help text
    doc = inspect.cleandoc(task.__globals__.get("__doc__") or "").replace("$", "$$")

    def entry() -> None:
        params = OmegaConf.load(project_root / "params.yaml")
        help_header = {"hydra": {"help": {"app_name": script.stem, "header": f"{doc}\n"}}}
        ConfigStore.instance().store(
            name="params", node=OmegaConf.merge(QUIET_HYDRA, params, help_header))
        hydra.main(config_path=None, config_name="params", version_base=None)(task)()

    return entry
