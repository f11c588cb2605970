"""Suite-wide settings. Hypothesis profiles: "barenet" (default, fast enough for every run)
and "thorough" (many more examples, for hunting rare failures):
HYPOTHESIS_PROFILE=thorough .venv/bin/pytest
And the one tiny study per session that the pipeline tests copy (reproduced_tiny_study)."""

import os

import pytest
from helpers import run, tiny_study
from hypothesis import settings

# deadline=None: the first call into torch or a fresh NumPy code path can take far longer
# than later ones, and a timing failure is not a correctness failure.
settings.register_profile("barenet", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "barenet"))


@pytest.fixture(scope="session")
def reproduced_tiny_study(tmp_path_factory):
    """The tiny study (helpers.tiny_study) after its first `dvc repro`, about a minute's work,
    done once per session; a module that changes it works on a copy (helpers.copy_project)."""
    repo = tiny_study(tmp_path_factory.mktemp("tiny-study"))
    run(repo, "dvc", "repro")
    return repo
