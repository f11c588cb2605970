"""Every command in the README is run: each fenced shell block either runs here, in the README's
order, in a copy of the tiny study (conftest.readme_study), or carries a mark in the line
before it, `<!-- run by <file> -->` (.ci/run, or a test that reads the block from the README
with helpers.readme_block; `<!-- run by <file>: <which> -->` when that file runs several)
or `<!-- not run by the tests: <why> -->`. A README edit that
breaks a command, or a block with neither, fails here."""

import json
import shlex
from pathlib import Path

import pytest
from helpers import (
    README_PLACEHOLDERS,
    REPORTS,
    ROOT,
    needs_mirror,
    readme_blocks,
    report_file,
    run,
)

from study import layout

RUN_BY = "run by "
NOT_RUN = "not run by the tests: "
# What the SLURM command may add to the submitit_local one: the cluster's settings.
CLUSTER_SETTINGS = {"hydra.launcher.partition", "hydra.launcher.mem_gb", "hydra.sweep.dir"}


def test_every_shell_block_is_run_or_marked_with_who_runs_it_or_why_not():
    blocks = readme_blocks()
    assert any(block.mark is None for block in blocks)
    problems = []
    for block in blocks:
        if block.mark is None:
            leftover = [arg for args in block.commands() for arg in args
                        if "<" in arg and not any(p in arg for p in README_PLACEHOLDERS)]
            problems += [f"line {block.line}: placeholder {arg} has no value in "
                         f"helpers.README_PLACEHOLDERS" for arg in leftover]
        elif block.mark.startswith(RUN_BY):
            runner = ROOT / block.mark.removeprefix(RUN_BY).split(": ")[0]
            if not runner.is_file():
                problems.append(f"line {block.line}: {runner} does not exist")
            elif runner.suffix == ".py" and f'readme_block("{block.mark}")' not in (
                    runner.read_text()):
                problems.append(f"line {block.line}: {runner.name} never reads this block")
        elif not block.mark.startswith(NOT_RUN) or not block.mark.removeprefix(NOT_RUN):
            problems.append(f"line {block.line}: unknown mark <!-- {block.mark} -->")
    assert problems == []


def ci_commands() -> list[list[str]]:
    return [shlex.split(line, comments=True) for line in (ROOT / ".ci/run").read_text()
            .splitlines() if shlex.split(line, comments=True)]


def test_what_the_readme_credits_to_ci_is_in_ci():
    credited = [args for block in readme_blocks() if block.mark == "run by .ci/run"
                for args in block.commands()]
    assert credited
    missing = [args for args in credited
               if not any(line[:len(args)] == args for line in ci_commands())]
    assert missing == []


def test_the_slurm_command_is_the_local_one_but_for_the_launcher_and_cluster_settings():
    (local,) = [block for block in readme_blocks() if block.mark is None
                and "hydra/launcher=submitit_local" in block.code]
    (slurm,) = [block for block in readme_blocks()
                if "hydra/launcher=submitit_slurm" in block.code]
    assert slurm.mark.startswith(NOT_RUN)

    def settings(block):
        (args,) = block.commands()
        return [arg for arg in args if not arg.startswith("hydra/launcher=")
                and arg.split("=")[0] not in CLUSTER_SETTINGS]

    assert settings(local) == settings(slurm)
    assert {arg.split("=")[0] for arg in slurm.commands()[0]} >= CLUSTER_SETTINGS


@pytest.mark.slow
@needs_mirror
def test_every_runnable_readme_block_succeeds(readme_study):
    _, results = readme_study
    failed = [f"README line {block.line}:\n{block.code}exit {result.returncode}\n"
              f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
              for block, result in results if result.returncode != 0]
    assert failed == [], "\n\n".join(failed)


@pytest.mark.slow
@needs_mirror
def test_the_readme_commands_did_what_the_readme_says(readme_study):
    repo, _ = readme_study
    experiments = {e["name"]: e["revs"][0]["data"] for baseline in json.loads(
        run(repo, "dvc", "exp", "show", "--json").stdout) for e in baseline["experiments"] or []}
    params = {name: data["params"]["params.yaml"]["data"] for name, data in experiments.items()}
    assert params["mlp-lr-0.1"]["mlp"]["grid"]["lr"] == [0.1]
    assert params["mlp-lr-0.02"]["mlp"]["grid"]["lr"] == [0.02]
    assert params["linear-2-epochs"]["linear"]["epochs"] == 2
    assert sorted(p["mlp"]["seed"] for name, p in params.items()
                  if name not in {"mlp-lr-0.1", "mlp-lr-0.02", "linear-2-epochs"}) == [1, 2]
    # the multirun blocks: one file per point, as the README says
    points = {p.name for p in Path(repo, layout.sweep_points(REPORTS, "mlp")).iterdir()}
    assert {f"batch_size_{b}-lr_{lr}.json" for b in (32, 64) for lr in (0.1, 0.05)} <= points
    assert (repo / "dvc_plots/index.html").is_file() and (repo / "plots.png").stat().st_size
    # the workspace holds mlp-lr-0.1 (applied) and linear-2-epochs (run on top of it): against
    # the last commit, both sections' knobs and both models' test accuracies differ. (One test
    # for every DVC command in this copy: two at once could collide on DVC's lock.)
    params_diff = run(repo, "dvc", "params", "diff").stdout
    assert "linear.epochs" in params_diff and "mlp.grid.lr" in params_diff
    metrics_diff = run(repo, "dvc", "metrics", "diff").stdout
    for model in ("linear", "mlp"):
        assert any(line.split()[:2] == [report_file(model, "metrics.json"), "test.accuracy_mean"]
                   for line in metrics_diff.splitlines()), metrics_diff
