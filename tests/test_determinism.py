"""Same params, same bytes: the whole tiny study (every stage of dvc.yaml) run a second time,
from an empty reports/, with every stage forced one by one in another order (each matrix's
points reversed, later branches first), writes byte for byte what its first `dvc repro` wrote:
every file under reports/, README.md's headline block and dvc.lock, which holds the hash of
every cached output under data/. So timing and host details must stay out of these files.
The DVC queue running experiments two at a time gives the same bytes too: test_fanout.py."""

import re
import shutil

import pytest
from helpers import copy_project, differences, file_bytes, needs_mirror, run

pytestmark = [pytest.mark.slow, needs_mirror]
WRITTEN = ("reports", "README.md", "dvc.lock")  # what the pipeline writes outside data/


@pytest.fixture(scope="module")
def study(reproduced_tiny_study, tmp_path_factory):
    return copy_project(reproduced_tiny_study, tmp_path_factory.mktemp("determinism"))


def stages_and_edges(repo) -> tuple[list[str], list[tuple[str, str]]]:
    """Every stage in the order DVC lists (and runs) them, and each (upstream, downstream)."""
    dot = run(repo, "dvc", "dag", "--dot").stdout
    return (re.findall(r'^"([^"]+)";$', dot, re.MULTILINE),
            re.findall(r'^"([^"]+)" -> "([^"]+)";$', dot, re.MULTILINE))


def another_order(stages: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """A valid run order unlike DVC's: of the stages whose inputs are all made, the one listed
    last runs first."""
    order: list[str] = []
    while len(order) < len(stages):
        ready = [s for s in stages if s not in order
                 and all(up in order for up, down in edges if down == s)]
        order.append(ready[-1])
    return order


def test_every_stage_run_again_in_another_order_writes_the_same_bytes(study):
    first = file_bytes(study, WRITTEN)
    stages, edges = stages_and_edges(study)
    order = another_order(stages, edges)
    assert order != stages and sorted(order) == sorted(stages)
    shutil.rmtree(study / "reports")
    # one DVC process runs the --single-item targets in the order given (a second each saved)
    out = run(study, "dvc", "repro", "--force", "--single-item", *order).stdout
    assert re.findall(r"^Running stage '([^']+)'", out, re.MULTILINE) == order
    assert differences(first, file_bytes(study, WRITTEN)) == ""
