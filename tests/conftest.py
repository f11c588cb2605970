"""Suite-wide settings. Hypothesis profiles: "barenet" (default, fast enough for every run)
and "thorough" (many more examples, for hunting rare failures):
HYPOTHESIS_PROFILE=thorough .venv/bin/pytest
And the one tiny study per run that the pipeline tests copy (reproduced_tiny_study), and
the copy of it in which the README's commands ran (readme_study): each built once, however many
pytest-xdist workers ask for it (once_per_run)."""

import os
import pickle
import shutil
from pathlib import Path

import pytest
from filelock import FileLock
from helpers import (
    README_PLACEHOLDERS,
    ROOT,
    copy_project,
    readme_blocks,
    run,
    settings_log,
    tiny_study,
)
from hypothesis import settings

from study.settings import LOG_ENV

# deadline=None: the first call into torch or a fresh NumPy code path can take far longer
# than later ones, and a timing failure is not a correctness failure.
settings.register_profile("barenet", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "barenet"))


def once_per_run(tmp_path_factory, name: str, build) -> Path:
    """The folder ``name`` filled by ``build(folder)``, built once per test run: under
    pytest-xdist each worker is a session of its own, so the first to ask builds it, under a
    file lock in the folder all the run's workers share, and the others wait and reuse it."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder: each worker's basetemp is a folder in it
    folder, done = base / name, base / f"{name}.done"
    with FileLock(base / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def order_longest_chain_first(items) -> None:
    """The tests of the README's commands first, then the others that need the tiny study:
    under pytest-xdist the first worker starts on the longest chain (tiny study, then README
    blocks, about half the run) while the others take the unit tests. The order within each
    file stays."""
    def rank(item) -> int:
        fixtures = getattr(item, "fixturenames", ())
        return 0 if "readme_study" in fixtures else 1 if "reproduced_tiny_study" in fixtures else 2
    items.sort(key=rank)  # stable


def pytest_collection_modifyitems(items):
    order_longest_chain_first(items)


@pytest.fixture(scope="session")
def reproduced_tiny_study(tmp_path_factory):
    """The tiny study (helpers.tiny_study) after its first `dvc repro`, under a minute's work,
    done once per run (once_per_run); a module that changes it works on a copy
    (helpers.copy_project). Every setting a stage read is logged (helpers.settings_log) for
    test_params_coverage."""
    def build(repo):
        tiny_study(repo)
        run(repo, "dvc", "repro", env={LOG_ENV: str(settings_log(repo))})
    return once_per_run(tmp_path_factory, "tiny-study", build)


@pytest.fixture(scope="session")
def readme_study(reproduced_tiny_study, tmp_path_factory):
    """A copy of the tiny study, committed, in which every README shell block that no mark
    exempts (helpers.readme_blocks) has run, in the README's order, each in its own bash;
    the copy and each block's result (pickled beside it, for the other workers). Built once
    per run (once_per_run). The copy finds .venv and node_modules where a checkout has them."""
    def build(repo):
        copy_project(reproduced_tiny_study, repo)
        for name in (".venv", "node_modules"):
            (repo / name).symlink_to(ROOT / name, target_is_directory=True)
        run(repo, "git", "add", "-A")
        run(repo, "git", "commit", "-qm", "tiny study results")
        results = []
        for block in readme_blocks():
            if block.mark is not None:
                continue
            code = block.code
            for placeholder, value in README_PLACEHOLDERS.items():
                code = code.replace(placeholder, value)
            results.append((block, run(repo, "bash", "-c", "set -eo pipefail\n" + code,
                                       check=False)))
        results_file(repo).write_bytes(pickle.dumps(results))
    repo = once_per_run(tmp_path_factory, "readme", build)
    return repo, pickle.loads(results_file(repo).read_bytes())


def results_file(repo):
    """Where readme_study keeps its blocks' results: beside the copy, out of git's sight."""
    return repo.with_name(f"{repo.name}-results.pickle")
