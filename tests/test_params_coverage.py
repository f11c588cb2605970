"""dvc.yaml's ``params`` cover every setting each stage reads, so no change of a setting can leave
a stage's outputs stale ("Stage didn't change, skipping" for a run that would differ). The tiny
study's first `dvc repro` logs each setting every stage reads (study.settings); each must be
listed in that stage's params, itself or a section holding it (a section tracked whole is fine
where that is the right granularity)."""

from collections import defaultdict

import pytest
from helpers import dvc_stages, settings_log

# settings no stage lists, and why that is safe
EXEMPT = {
    "model": "dvc.yaml's cmd passes it (model=...), so a change is a change of the command",
    "workers": "how many processes share a stage's runs: the results are the same bytes",
    "paths": "dvc.yaml names every path it interpolates as a dep or an out",
}
STAGES = dvc_stages()


def stage_of(command: str) -> str:
    """The stage of dvc.yaml whose cmd runs ``command`` (a script and its overrides)."""
    (name,) = [name for name, stage in STAGES.items() if stage["cmd"] == f"python {command}"]
    return name


def settings_read(log) -> dict[str, set[str]]:
    """Stage name -> the dotted settings it read, from a study.settings log."""
    read = defaultdict(set)
    for line in log.read_text(encoding="utf-8").splitlines():
        command, key = line.split("\t")
        read[stage_of(command)].add(key)
    return read


def untracked(read: set[str], params: list[str]) -> list[str]:
    """The settings in ``read`` that neither a param nor a section of ``params`` covers, nor
    EXEMPT excuses."""
    def covered(key: str) -> bool:
        return any(key == p or key.startswith(f"{p}.") for p in [*params, *EXEMPT])
    return sorted(key for key in read if not covered(key))


def problems(read: dict[str, set[str]], stages: dict[str, dict]) -> list[str]:
    return [f"stage {name} reads {missing}, but dvc.yaml does not list them in its params: "
            f"add them (or a section holding them) to {name}'s params, or a change of them "
            "would not re-run it" for name in sorted(read)
            if (missing := untracked(read[name], stages[name]["params"]))]


@pytest.fixture(scope="module")
def read(reproduced_tiny_study):
    return settings_read(settings_log(reproduced_tiny_study))


@pytest.mark.slow
def test_every_stage_ran_and_read_settings(read):
    assert sorted(read) == sorted(STAGES), "a stage read no setting, or is not in dvc.yaml"


@pytest.mark.slow
def test_every_setting_a_stage_reads_is_in_its_params(read):
    assert not problems(read, STAGES), "\n".join(problems(read, STAGES))


def test_a_new_setting_missing_from_params_is_named_with_its_stage():
    """What a contributor meets who adds mlp.optimizer to conf/ and the training code, but not
    to the MLP sweep's params list."""
    stages = {"mlp_sweep": {"params": ["mlp.grid", "mlp.epochs"]},
              "final@mlp": {"params": ["mlp"]}}
    read = {"mlp_sweep": {"mlp.grid.lr", "mlp.epochs", "mlp.optimizer", "workers"},
            "final@mlp": {"mlp.optimizer", "paths.reports"}}
    (problem,) = problems(read, stages)
    assert problem.startswith("stage mlp_sweep reads ['mlp.optimizer']")


def test_a_key_only_sharing_a_prefix_is_not_covered():
    assert untracked({"linear.grid_extra"}, ["linear.grid"]) == ["linear.grid_extra"]
