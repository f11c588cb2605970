"""Sweeps that fan out, on the tiny study, against the same points run one at a time:

- by hand, Hydra's multirun runs the sweep's points (stages/sweep_point.py) in parallel
  processes, through the joblib launcher and through submitit's local launcher (the SLURM one
  but for the cluster; tests/test_ray.py does the same on a real Ray cluster); they write byte
  for byte what the sweep stage wrote for them, and nothing else lands in the workspace (Hydra's
  and submitit's own bookkeeping go to the temporary folder);
- four experiments queued with `dvc exp run c0_recover --queue -S ...` and run by `dvc queue
  start -j 2` all finish, two at a time, and `dvc exp show` lists each; each committed exactly
  the files its serial `dvc exp run c0_recover` leaves in the workspace (reports/, dvc.lock,
  params.yaml, ...), and every object in the DVC cache they share still hashes to its name.
"""

import hashlib
import itertools
import json
import shutil
import time
from pathlib import Path

import pytest
import yaml
from helpers import (
    REPORTS,
    copy_project,
    differences,
    file_bytes,
    needs_mirror,
    report_file,
    run,
)

from study import layout

pytestmark = [pytest.mark.slow, needs_mirror]
# Four experiments. C0's padding varies slowest, so the two that run at once make the same
# data/c0 (C0's targets, a cached directory) and commit the same objects into the shared cache
# together; each re-runs c0_targets and c0_recover, its TARGET (the CIFAR-10 sample, the same
# for all four, is not prepared again). Queued and serial runs stop there: the report, which
# reads every stage, would add about 4 s of CPU to each of the eight runs and nothing to what
# the queue is tested for (other tests compare the report's bytes across runs).
QUEUED = {"c0.padding": [1, 0], "c0.sgd.lr": [0.05, 0.02]}
TARGET = "c0_recover"


@pytest.fixture(scope="module")
def study(reproduced_tiny_study, tmp_path_factory):
    return copy_project(reproduced_tiny_study, tmp_path_factory.mktemp("fanout"))


def workspace(repo: Path) -> set[str]:
    """Every path in the project but git's own and Python's byte-code caches."""
    return {p.relative_to(repo).as_posix() for p in repo.rglob("*")
            if not {".git", "__pycache__"} & set(p.relative_to(repo).parts)}


# The README's commands name the same launcher settings (tests/test_readme.py runs them).
LAUNCHERS = {
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "submitit_local": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
                       "hydra.launcher.cpus_per_task=1"],
}


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_hydra_multirun_writes_what_the_sweep_stage_wrote(study, launcher):
    sweep = layout.sweep_points(REPORTS, "linear")
    by_stage = file_bytes(study, [sweep])  # by `dvc repro`: the points side by side in a pool
    grid = yaml.safe_load((study / "params.yaml").read_text())["linear"]["grid"]
    assert len(by_stage) == len(grid["lr"]) * len(grid["lambda"]) >= 2
    before = workspace(study)
    shutil.rmtree(study / sweep)
    run(study, "python", "stages/sweep_point.py", "--multirun", "model=linear",
        *(f"+linear.{key}={','.join(map(str, values))}" for key, values in grid.items()),
        *LAUNCHERS[launcher])
    assert differences(by_stage, file_bytes(study, [sweep])) == ""
    assert workspace(study) == before  # no multirun/, .hydra/ or log file


def lookup(params: dict, dotted: str):
    """``params["a"]["b"]`` for ``"a.b"``."""
    for key in dotted.split("."):
        params = params[key]
    return params


def queued_experiments(repo: Path) -> dict[tuple, dict]:
    """Each experiment `dvc exp show --json` lists, by its values of the QUEUED keys: its
    outcome, commit and outputs."""
    found = {}
    for baseline in json.loads(run(repo, "dvc", "exp", "show", "--json").stdout):
        for experiment in baseline.get("experiments") or []:
            (rev,) = experiment["revs"]
            params = rev["data"]["params"]["params.yaml"]["data"]
            found[tuple(lookup(params, key) for key in QUEUED)] = {
                "name": experiment["name"], "state": (experiment["executor"] or {}).get("state"),
                "rev": rev["rev"], "outs": rev["data"]["outs"]}
    return found


def wait_for_queue(repo: Path, timeout: float = 900) -> int:
    """Poll the queue's status until no experiment is queued or running; the most it saw
    running at once. In this process, through DVC's API (what `dvc queue status` prints), a
    few times a second: the CLI's start-up alone takes seconds, in which two short overlapping
    runs could both come and go unseen."""
    from dvc.repo import Repo

    most_running, deadline = 0, time.monotonic() + timeout
    with Repo(str(repo)) as dvc_repo:
        while True:
            states = [entry["status"] for entry in dvc_repo.experiments.celery_queue.status()]
            most_running = max(most_running, states.count("Running"))
            if "Queued" not in states and "Running" not in states:
                return most_running
            if time.monotonic() > deadline:
                raise AssertionError(f"the queue has not finished in {timeout} s: {states}")
            time.sleep(0.2)


def cache_problems(repo: Path, outs: list[dict]) -> list[str]:
    """Every object in the DVC cache whose content does not hash to its name (a .dir object
    lists a directory's files), and every cached output of ``outs`` (as `dvc exp show --json`
    gives them) missing from the cache, with each file of a directory output."""
    cache = repo / ".dvc" / "cache" / "files" / "md5"
    problems = []
    for path in sorted(cache.rglob("*")):
        if path.is_file():
            with path.open("rb") as f:
                actual = hashlib.file_digest(f, "md5").hexdigest()
            if actual != path.parent.name + path.name.removesuffix(".dir"):
                problems.append(f"{path.relative_to(repo)} hashes to {actual}")
    for out in (out for out in outs if out["use_cache"]):
        names, listing = [out["hash"]], cache / out["hash"][:2] / out["hash"][2:]
        if out["hash"].endswith(".dir") and listing.is_file():
            names += [entry["md5"] for entry in json.loads(listing.read_text())]
        problems += [f"{name} (of {out['path']}) is not in the cache" for name in names
                     if not (cache / name[:2] / name[2:]).is_file()]
    return problems


def test_four_queued_experiments_on_two_workers_each_equal_their_serial_run(study):
    run(study, "git", "add", "-A")  # the queue runs experiments from the last commit
    run(study, "git", "commit", "-qm", "tiny study results")
    sweep = [arg for key, values in QUEUED.items()
             for arg in ("-S", f"{key}={','.join(map(str, values))}")]
    run(study, "dvc", "exp", "run", TARGET, "--queue", *sweep)
    try:
        run(study, "dvc", "queue", "start", "-j", "2")
        most_running = wait_for_queue(study)
    finally:
        run(study, "dvc", "queue", "stop", "--kill", check=False)
    assert most_running == 2

    queued = queued_experiments(study)
    assert sorted(queued) == sorted(itertools.product(*QUEUED.values()))
    failed = {point: run(study, "dvc", "queue", "logs", e["name"], check=False).stdout[-3000:]
              for point, e in queued.items() if e["state"] != "success"}
    assert failed == {}
    c0 = report_file("c0", "metrics.json")
    metrics = {run(study, "git", "rev-parse", f"{e['rev']}:{c0}").stdout for e in queued.values()}
    assert len(metrics) == len(queued)  # four different results: none lost, none written twice
    outs = [{"path": path, **out} for e in queued.values() for path, out in e["outs"].items()]
    assert cache_problems(study, outs) == []

    # in order of the points, so that the two of one padding run one after the other
    # and the second re-runs only what its c0.sgd.lr changes, as a person's runs would
    for point, experiment in sorted(queued.items()):
        run(study, "dvc", "exp", "run", TARGET,
            *[arg for key, value in zip(QUEUED, point, strict=True)
              for arg in ("-S", f"{key}={value}")])
        # the workspace now holds the serial run's results: compare with the queued commit
        changed = run(study, "git", "diff", experiment["rev"]).stdout
        assert changed == "", f"queued {point} differs from its serial run:\n{changed[:5000]}"
