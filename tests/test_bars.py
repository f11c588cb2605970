"""study.bars, the CI gate over the committed reports: it passes on them, and it catches a
missing key, a missing file and a missed bar."""

import json
import re
import shutil
from pathlib import Path

import pytest

from study.bars import broken_promises

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def reports(tmp_path):
    shutil.copytree(ROOT / "reports", tmp_path / "reports")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    return tmp_path


def edit(root: Path, name: str, change) -> None:
    path = root / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_the_committed_reports_keep_every_promise(reports):
    assert broken_promises(reports) == []


# what differs between machines or runs, so has no place in a tracked report: absolute paths,
# clock times, and keys that hold timings or host names (timings belong in benchmarks/)
HOST_SPECIFIC = re.compile(r"(?<![\w.])/(work|home|tmp|root|Users|mnt|var)/|[A-Z]:\\"
                           r"|\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
RUN_SPECIFIC_KEYS = {"seconds", "elapsed", "duration", "wall_time", "timestamp", "date",
                     "host", "hostname", "user"}


def keys_of(data) -> set[str]:
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in keys_of(v)}
    if isinstance(data, list):
        return {k for v in data for k in keys_of(v)}
    return set()


def test_the_committed_reports_hold_nothing_host_or_run_specific():
    for path in sorted((ROOT / "reports").rglob("*")):
        if path.suffix not in (".json", ".csv", ".md"):
            continue
        text = path.read_text()
        found = HOST_SPECIFIC.search(text)
        assert not found, f"{path.relative_to(ROOT)} holds {found.group(0)!r}"
        if path.suffix == ".json":
            keys = keys_of(json.loads(text)) & RUN_SPECIFIC_KEYS
            assert not keys, (f"{path.relative_to(ROOT)} holds {sorted(keys)}: print it or "
                              "measure it in benchmarks/, and re-run its stage")


def test_a_missing_key_and_a_missing_file_are_named(reports):
    edit(reports, "reports/mlp/metrics.json", lambda d: d.pop("worst_class"))
    (reports / "reports/blur/metrics.json").unlink()
    problems = broken_promises(reports)
    assert "reports/mlp/metrics.json lacks worst_class" in problems
    assert "reports/blur/metrics.json is missing" in problems


@pytest.mark.parametrize("name, change, words", [
    ("reports/linear/metrics.json", lambda d: d["test"].update(accuracy=0.85), "linear test"),
    ("reports/mlp/metrics.json", lambda d: d["test"].update(accuracy=0.9767), "MLP test"),
    ("reports/cnn/metrics.json", lambda d: d["test"].update(accuracy=0.9919), "CNN test"),
    ("reports/c0/metrics.json", lambda d: d["cg"].update(relative_weight_error=1.93), "C0"),
    ("reports/blur/metrics.json", lambda d: d.update(max_abs_diff_vs_reference=1e-3), "blur"),
])
def test_a_missed_bar_is_reported(reports, name, change, words):
    edit(reports, name, change)
    problems = broken_promises(reports)
    assert problems and all(words in p for p in problems)
