"""study.bars, the CI gate over the committed reports: it passes on them, and it catches a
missing key, a missing file, a metric that is not a number and a missed bar."""

import json
import re
import shutil
from pathlib import Path

import pytest
from helpers import REPORTS, report_file

from study.bars import (
    GATE_MARGIN,
    broken_promises,
    contract_paths,
    contract_problems,
    gates,
    not_numbers,
    tracked_metrics,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def reports(tmp_path):
    shutil.copytree(ROOT / "reports", tmp_path / "reports")
    for name in ("params.yaml", "dvc.yaml"):  # dvc.yaml: which files are metrics
        shutil.copy(ROOT / name, tmp_path / name)
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
    edit(reports, report_file("mlp", "metrics.json"), lambda d: d.pop("worst_class"))
    (reports / report_file("blur", "metrics.json")).unlink()
    problems = broken_promises(reports)
    # each names the file, the key and the stage to re-run
    assert f"{report_file('mlp', 'metrics.json')} lacks worst_class: re-run final@mlp " \
           "(dvc repro --force final@mlp)" in problems, problems
    assert f"{report_file('blur', 'metrics.json')} is missing: run blur (dvc repro blur)" \
        in problems, problems


def test_every_file_dvc_tracks_as_metrics_is_in_the_contract():
    """So the contract names a missing one (the numbers-only check skips it)."""
    tracked = tracked_metrics(ROOT)
    contract = set(contract_paths(REPORTS).values())
    assert report_file("linear", "fraction.json") in tracked and set(tracked) <= contract


def test_not_numbers_finds_strings_lists_booleans_and_nulls_at_any_depth():
    data = {"a": {"b": 1, "c": "x", "d": {"e": [1.0]}}, "f": 0.5, "g": True, "h": None}
    assert not_numbers(data) == [("a.c", "x"), ("a.d.e", [1.0]), ("g", True), ("h", None)]


@pytest.mark.parametrize("value", ["1", [0.1, 0.2], False, None])
def test_a_metric_that_is_not_a_number_is_reported(reports, value):
    edit(reports, report_file("linear", "metrics.json"), lambda d: d["test"].update(loss=value))
    problems = broken_promises(reports)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{report_file('linear', 'metrics.json')}: test.loss is ") \
        and "not a number" in problems[0]


@pytest.mark.parametrize("name, change, words", [
    (report_file("linear", "metrics.json"), lambda d: d["val"].update(accuracy=0.85),
     "linear validation"),
    (report_file("sklearn", "metrics.json"), lambda d: d["val"].update(accuracy=0.99),
     "minus scikit-learn's"),
    (report_file("mlp", "metrics.json"), lambda d: d["val"].update(accuracy=0.9667),
     "mlp validation"),
    (report_file("cnn", "metrics.json"), lambda d: d["val"].update(accuracy=0.9719),
     "cnn validation"),
    (report_file("c0", "metrics.json"), lambda d: d["cg"].update(relative_weight_error=1.93), "C0"),
    (report_file("blur", "metrics.json"), lambda d: d.update(max_abs_diff_vs_reference=1e-3),
     "blur"),
])
def test_a_missed_bar_is_reported(reports, name, change, words):
    edit(reports, name, change)
    problems = broken_promises(reports)
    assert problems and all(words in p for p in problems)


def test_no_committed_result_sits_within_half_a_point_of_its_gate(reports):
    """A floor close under a result is a target in disguise: the gates are loose."""
    _, loaded = contract_problems(reports)
    close = [(gate, value, floor) for gate, value, floor in gates(loaded)
             if value - floor < GATE_MARGIN]
    assert close == []


def test_no_gate_reads_the_test_set(reports):
    """Every gate still holds when every test accuracy is zeroed: none of them reads it."""
    for name in ("linear", "mlp", "cnn", "sklearn"):
        edit(reports, report_file(name, "metrics.json"), lambda d: d["test"].update(accuracy=0.0))
    assert [p for p in broken_promises(reports) if "accuracy" in p] == []
