"""Progress a person can follow: on a terminal a tqdm bar, elsewhere (a log, `dvc repro` in CI)
a few lines per loop, never one per batch or per epoch of a long run. Checked on the helper
itself and on real stage scripts, with their output piped and on a pseudo-terminal."""

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest
from helpers import PATHS, stage_project, write_prepared_idx
from hypothesis import given
from hypothesis import strategies as st

from barenet.conv import conv2d_forward
from study.io import save_npy, write_json
from study.progress import LOG_LINES, Progress


def logged(total: int, steps: int, **kwargs) -> list[str]:
    out = io.StringIO()
    with Progress("c0_recover sgd", total, stream=out, **kwargs) as progress:
        for step in range(1, steps + 1):
            progress.update(step, f"error {1 / step:.3e}")
    return out.getvalue().splitlines()


def test_a_long_loop_off_a_terminal_logs_a_few_lines_with_the_first_and_last_step():
    lines = logged(500, 500)
    assert len(lines) <= LOG_LINES + 1
    assert lines[0] == "c0_recover sgd epoch 1/500: error 1.000e+00"
    assert lines[-1] == "c0_recover sgd epoch 500/500: error 2.000e-03"


def test_a_loop_that_stops_early_still_logs_where_it_stopped():
    lines = logged(500, 137)  # converged, diverged or interrupted at step 137
    assert lines[-1] == "c0_recover sgd epoch 137/500: error 7.299e-03"
    assert len(lines) <= LOG_LINES + 1


@given(total=st.integers(1, 3000), stop=st.integers(1, 3000), max_lines=st.integers(1, 30))
def test_lines_stay_within_the_budget_and_follow_the_steps(total, stop, max_lines):
    steps = min(stop, total)
    lines = logged(total, steps, max_lines=max_lines)
    numbers = [int(line.split(" ")[3].split("/")[0]) for line in lines]
    assert len(lines) <= max_lines + 2  # the budget, plus the first and the last step
    assert numbers[0] == 1 and numbers[-1] == steps and numbers == sorted(set(numbers))


def read_terminal(master: int) -> str:
    """Everything written to a pseudo-terminal until its last writer closes it."""
    chunks = []
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: no writer left
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def open_terminal() -> tuple[int, int]:
    """A pseudo-terminal (master, slave) of 24 rows x 100 columns, as a terminal window is."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    return master, slave


def test_each_line_is_one_write_with_its_newline():
    """Workers share stdout: a line written in two parts (text, then newline), as print() does
    unbuffered, can be split by another worker's line."""
    class Writes(io.StringIO):
        def __init__(self):
            super().__init__()
            self.calls = []

        def write(self, text):
            self.calls.append(text)
            return super().write(text)

    stream = Writes()
    with Progress("c0_recover sgd", 10, max_lines=3, stream=stream) as progress:
        for step in range(1, 9):  # stops early: the last line is written at close
            progress.update(step, f"loss {step}")
    assert stream.calls and all(call.endswith("\n") and call.count("\n") == 1
                                for call in stream.calls), stream.calls


def test_on_a_terminal_it_draws_a_tqdm_bar_instead_of_lines():
    master, slave = open_terminal()
    with open(slave, "w") as terminal, Progress("final@mlp", 20, stream=terminal) as progress:
        for epoch in range(1, 21):
            progress.update(epoch, f"val acc {epoch / 20:.4f}")
    text = read_terminal(master)
    assert "final@mlp: 100%|" in text and "20/20" in text and "val acc 1.0000" in text
    assert "final@mlp epoch" not in text  # no log lines


# --- real stages --------------------------------------------------------------------------------

LINEAR = {"grid": {"lr": [0.1], "lambda": [0.0]}, "epochs": 40, "batch_size": 32,
          "momentum": 0.0, "shift": 0, "lr_decay": 0.95, "dtype": "float32", "seed": 0}
MLP = {"hidden": 16, "grid": {"lr": [0.05], "batch_size": [32]}, "lambda": 0.0001, "shift": 1,
       "epochs": 30, "momentum": 0.9, "lr_decay": 0.9, "dtype": "float32", "seed": 0}
SWEEP_POINT = [sys.executable, "stages/sweep_point.py", "model=linear", "+linear.lr=0.1",
               "+linear.lambda=0.0"]


def classifier_project(tmp_path):
    project = stage_project(tmp_path, ["sweep_point", "final"],
                            {"linear": LINEAR, "mlp": MLP, "model": "linear"})
    write_prepared_idx(project / PATHS["idx"])
    write_json(project / PATHS["reports"] / "mlp" / "best.json", {"lr": 0.05, "batch_size": 32})
    return project


@pytest.mark.slow
def test_stages_off_a_terminal_log_a_few_lines_per_run(tmp_path):
    project = classifier_project(tmp_path)
    sweep = subprocess.run(SWEEP_POINT, cwd=project, capture_output=True, text=True,
                           timeout=300)
    final = subprocess.run([sys.executable, "stages/final.py", "model=mlp"], cwd=project,
                           capture_output=True, text=True, timeout=300)
    assert sweep.returncode == 0 and final.returncode == 0, sweep.stderr + final.stderr
    sweep_lines, final_lines = sweep.stdout.splitlines(), final.stdout.splitlines()
    assert 3 <= len(sweep_lines) <= 8  # 40 epochs: ~5 progress lines and the result
    assert sweep_lines[0].startswith("linear_sweep lambda_0.0-lr_0.1 epoch 1/40: val acc")
    assert sweep_lines[-2].startswith("linear_sweep lambda_0.0-lr_0.1 epoch 40/40: train acc")
    assert sweep_lines[-1].startswith("linear_sweep lambda_0.0-lr_0.1: val acc")
    assert 3 <= len(final_lines) <= LOG_LINES + 2  # 30 epochs: ~10 lines and the result
    assert final_lines[-2].startswith("final@mlp epoch 30/30: train acc")
    assert "\r" not in sweep.stdout + final.stdout  # no bar redraws in a log


def test_a_stage_on_a_terminal_draws_a_bar(tmp_path):
    project = classifier_project(tmp_path)
    master, slave = open_terminal()
    process = subprocess.Popen(SWEEP_POINT, cwd=project, stdin=slave, stdout=slave,
                               stderr=slave)
    os.close(slave)
    text = read_terminal(master)
    assert process.wait(timeout=300) == 0, text
    assert "linear_sweep lambda_0.0-lr_0.1: 100%|" in text and "40/40" in text
    assert "epoch 1/40:" not in text  # the bar, not log lines
    assert "linear_sweep lambda_0.0-lr_0.1: val acc" in text  # the result line stays


def test_c0_recovery_of_500_epochs_off_a_terminal_logs_about_20_lines(tmp_path):
    c0 = {"out_channels": 2, "kernel_size": 3, "padding": 1,
          "sgd": {"max_epochs": 500, "tol": 1e-30, "batch_size": 1}}  # runs all 500 epochs
    project = stage_project(tmp_path, ["c0_recover"], {"c0": c0})
    rng = np.random.default_rng(0)
    x, weights = rng.random((3, 3, 6, 6)), rng.normal(0, 0.3, (2, 3, 3, 3))
    for name, array in (("inputs", x), ("C0_weights", weights),
                        ("targets", conv2d_forward(x, weights, padding=1)[0])):
        save_npy(project / PATHS["c0"] / f"{name}.npy", array)
    result = subprocess.run([sys.executable, "stages/c0_recover.py"], cwd=project,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) <= 20, result.stdout
    assert any(line.startswith("c0_recover sgd epoch 500/500: ") for line in lines)
    # then one summary line per run from the common start, in the order they were asked for
    assert [line.split(":")[0] for line in lines[-4:]] == [
        "c0_recover sgd", "c0_recover gd", "c0_recover cg", "c0_recover original"]
