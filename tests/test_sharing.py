"""The study handed over, as the README's Sharing section does it, on the tiny study: one clone
publishes (version tags, `git push`, `dvc push` to the default remote, the folder beside the
project that the committed .dvc/config names), a fresh clone of the bare git repository fetches
a model by name (`dvc artifacts get`) and pulls the rest; its status is clean, `dvc repro` runs
no stage, and every model scores exactly what the reports say. An experiment run in one clone
(`dvc exp run`, `dvc exp push`) is pulled into another (`dvc exp pull`), listed by `dvc exp
show` and applied, and gives the same files byte for byte.

The clones live side by side in the module's own folder, so the committed relative remote,
``../barenet-dvc-remote`` seen from the project, is one folder beside them all: nothing is
reconfigured, and no other test's remote is touched."""

import json

import pytest
from helpers import (
    PATHS,
    REPORTS,
    ReadmeBlock,
    copy_project,
    differences,
    file_bytes,
    models_versus_reports,
    needs_mirror,
    readme_block,
    run,
)

from study import layout

pytestmark = [pytest.mark.slow, needs_mirror]
REMOTE = "barenet-dvc-remote"  # the default remote's folder, beside the project (.dvc/config)
UP_TO_DATE = "Data and pipelines are up to date."
EXPERIMENT = "mlp-hidden-50"  # the README's


def run_block(cwd, block: ReadmeBlock, **placeholders):
    """A README ``block`` run in ``cwd`` as test_readme runs blocks (one bash, stop at the first
    failure), its placeholders filled in; the result, which must succeed."""
    code = block.code
    for placeholder, value in placeholders.items():
        code = code.replace(placeholder, str(value))
    return run(cwd, "bash", "-c", "set -eo pipefail\n" + code)


@pytest.fixture(scope="module")
def published(reproduced_tiny_study, tmp_path_factory):
    """(folder, first clone, bare git repository): the tiny study's results committed in a
    first clone, published by the README's publishing block to the bare repository (its
    ``origin``) and to the default remote."""
    folder = tmp_path_factory.mktemp("sharing")
    first = copy_project(reproduced_tiny_study, folder / "first")
    run(first, "git", "add", "-A")
    run(first, "git", "commit", "-qm", "tiny study results")
    origin = folder / "origin.git"
    run(folder, "git", "init", "-q", "--bare", str(origin))
    run(first, "git", "remote", "add", "origin", str(origin))
    run_block(first, readme_block("run by tests/test_sharing.py: publishing"))
    return folder, first, origin


def outputs(repo) -> dict[str, bytes]:
    """What a run leaves that a hand-over must reproduce: params, lock, reports and models."""
    return file_bytes(repo, ["params.yaml", "dvc.lock", REPORTS, PATHS["models"]])


def test_a_fresh_clone_pulls_every_file_reproduces_nothing_and_scores_as_reported(published):
    folder, first, origin = published
    remote = folder / REMOTE
    assert any(remote.rglob("*")), "the committed default remote is not beside the project"
    result = run_block(folder, readme_block("run by tests/test_sharing.py: a fresh clone"),
                       **{"<repository>": origin})
    clone = folder / "barenet"
    assert "Running stage" not in result.stdout  # its dvc repro ran nothing
    assert run(clone, "dvc", "status").stdout.strip() == UP_TO_DATE
    assert differences(outputs(first), outputs(clone)) == ""
    # fetched by name before the pull, so from the remote: the very file, and it scores
    assert (clone / "cnn.npz").read_bytes() == (
        clone / layout.model_file(PATHS["models"], "cnn")).read_bytes()
    assert models_versus_reports(clone) == {name: [] for name in layout.CLASSIFIERS}


def test_an_experiment_pushed_from_one_clone_is_pulled_listed_and_applied_in_another(
        published):
    folder, first, origin = published
    run(first, "dvc", "checkout")  # the committed workspace, whatever ran before
    second = folder / "second"
    run(folder, "git", "clone", "-q", str(origin), str(second))
    run_block(first, readme_block("run by tests/test_sharing.py: an experiment handed over"))
    ran = outputs(first)  # the experiment's workspace in the clone that ran it
    assert (first / "dvc.lock").read_text() != run(first, "git", "show", "HEAD:dvc.lock").stdout

    taken = run_block(second,
                      readme_block("run by tests/test_sharing.py: an experiment taken over"))
    assert EXPERIMENT in taken.stdout  # dvc exp show lists it
    shown = json.loads(run(second, "dvc", "exp", "show", "--json").stdout)
    names = [e["name"] for baseline in shown for e in baseline.get("experiments") or []]
    assert names == [EXPERIMENT]
    assert differences(ran, outputs(second)) == ""
    assert run(second, "dvc", "status").stdout.strip() == UP_TO_DATE
