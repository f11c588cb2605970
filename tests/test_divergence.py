"""Divergence, end to end: a real sweep point whose learning rate is far too large stops early
and is recorded as diverged with its epoch; the selection leaves it out and chooses among the
rest, and the sweep table says what happened."""

import json
import subprocess
import sys

import pytest
from helpers import PATHS, REPORTS, report_file, stage_project, write_prepared_idx

from study import layout

SWEEP = layout.sweep_points(REPORTS, "linear")

# lr 100 with lambda 0.1: every step multiplies the weights by about 1 - 2 * lr * lambda = -19
# (the L2 penalty's gradient), so they overflow float32 within a few epochs; lr 0.1 learns.
LINEAR = {"grid": {"lr": [100.0, 0.1], "lambda": [0.1]}, "epochs": 6, "batch_size": 32,
          "momentum": 0.0, "shift": 0, "lr_decay": 0.9, "dtype": "float32", "seed": 0}
DIVERGING, LEARNING = "lambda_0.1-lr_100.0", "lambda_0.1-lr_0.1"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    project = stage_project(tmp_path_factory.mktemp("sweep"), ["sweep"],
                            {"linear": LINEAR, "model": "linear"})
    write_prepared_idx(project / PATHS["idx"])
    result = subprocess.run([sys.executable, "stages/sweep.py", "model=linear"], cwd=project,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr  # a diverging point never fails the sweep
    return project, result.stdout


def test_the_diverging_point_stops_early_and_records_the_epoch(sweep):
    project, outputs = sweep
    record = json.loads((project / f"{SWEEP}/{DIVERGING}.json").read_text())
    epoch = record["diverged_at_epoch"]
    assert record["diverged"] and 1 <= epoch < LINEAR["epochs"]  # stopped early
    assert len(record["history"]["val_loss"]) == epoch - 1  # the finite epochs before it
    assert record["val_accuracy"] is None and record["val_loss"] is None  # never a NaN score
    assert f"linear_sweep point 1/2: {DIVERGING}: diverged in epoch {epoch}" in outputs


def test_select_skips_the_diverged_point_and_the_table_says_so(sweep):
    project, outputs = sweep
    learned = json.loads((project / f"{SWEEP}/{LEARNING}.json").read_text())
    assert not learned["diverged"] and learned["val_accuracy"] > 0.9
    best = json.loads((project / report_file("linear", "best.json")).read_text())
    assert (best["lr"], best["lambda"]) == (0.1, 0.1)
    assert "(1 diverged)" in outputs.splitlines()[-1]
    diverged = json.loads((project / f"{SWEEP}/{DIVERGING}.json").read_text())
    table = (project / report_file("linear", "sweep.md")).read_text()
    assert f"diverged (epoch {diverged['diverged_at_epoch']})" in table
    csv_rows = (project / report_file("linear", "sweep.csv")).read_text().splitlines()
    assert csv_rows[1].endswith(f",{diverged['diverged_at_epoch']}")  # lr 100, first row
    assert csv_rows[2].endswith(",")  # lr 0.1 did not diverge
