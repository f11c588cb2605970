"""Suite-wide settings. Hypothesis profiles: "barenet" (default, fast enough for every run)
and "thorough" (many more examples, for hunting rare failures):
HYPOTHESIS_PROFILE=thorough .venv/bin/pytest
And the one tiny study per session that the pipeline tests copy (reproduced_tiny_study), and
the copy of it in which the README's commands ran (readme_study)."""

import os

import pytest
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


@pytest.fixture(scope="session")
def reproduced_tiny_study(tmp_path_factory):
    """The tiny study (helpers.tiny_study) after its first `dvc repro`, about a minute's work,
    done once per session; a module that changes it works on a copy (helpers.copy_project).
    Every setting a stage read is logged (helpers.settings_log) for test_params_coverage."""
    repo = tiny_study(tmp_path_factory.mktemp("tiny-study"))
    run(repo, "dvc", "repro", env={LOG_ENV: str(settings_log(repo))})
    return repo


@pytest.fixture(scope="session")
def readme_study(reproduced_tiny_study, tmp_path_factory):
    """A copy of the tiny study, committed, in which every README shell block that no mark
    exempts (helpers.readme_blocks) has run, in the README's order, each in its own bash;
    the copy and each block's result. The copy finds .venv and node_modules where a checkout
    has them."""
    repo = copy_project(reproduced_tiny_study, tmp_path_factory.mktemp("readme"))
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
    return repo, results
