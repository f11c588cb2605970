"""The GEMM arithmetic of the study's training stages, against the machine's measured peak.

Issue 21 asks for a forced study in 6 minutes, or, where that cannot be reached, each large
stage's FLOP count against this machine's measured peak and what would be needed. Here each
training stage's runs are listed from its settings (params.yaml) and, where a stage chooses its
runs itself, from the files it wrote (the ablation ladders, the data-fraction tables), and each
run is counted as GEMM multiply-adds x 2: per epoch, forward and backward on the training
images (no gradient for the input images themselves) and forward on the validation images;
forward on the test images once. Elementwise work, augmentation, Python's per-batch overhead,
process start-up and DVC's own work are left out, so the seconds at peak are lower bounds.

Usage: benchmarks/run.py --study writes ``flop_budget`` into benchmarks/study.json beside the
measured stage times; ``python benchmarks/flops.py`` prints the counts alone.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
N_TRAIN, N_VAL, N_TEST = 48_000, 12_000, 10_000  # the study's split of MNIST
PIXELS, CLASSES, SIDE = 784, 10, 28


@dataclass(frozen=True)
class Model:
    """GEMM FLOPs per image: one training step's (forward + backward) and one forward."""
    train: int
    forward: int


def linear_model() -> Model:
    forward = 2 * PIXELS * CLASSES
    return Model(train=2 * forward, forward=forward)  # forward and the weight gradient


def mlp_model(hidden: int) -> Model:
    forward = 2 * (PIXELS * hidden + hidden * CLASSES)
    backward = 2 * (PIXELS * hidden + 2 * hidden * CLASSES)  # weight grads, hidden input grad
    return Model(train=forward + backward, forward=forward)


def cnn_model(channels: list[int], kernel: int) -> Model:
    """Conv(1, c1) -> pool 2 -> Conv(c1, c2) -> pool 2 -> Linear: 'same' padding, stride 1."""
    c1, c2 = channels
    conv1 = 2 * SIDE * SIDE * c1 * kernel * kernel
    conv2 = 2 * (SIDE // 2) ** 2 * c2 * c1 * kernel * kernel
    dense = 2 * (SIDE // 4) ** 2 * c2 * CLASSES
    forward = conv1 + conv2 + dense
    # backward: every weight gradient, and the input gradients of all but the first layer
    return Model(train=forward + forward + conv2 + dense, forward=forward)


@dataclass(frozen=True)
class Runs:
    """``count`` trainings of ``model`` for ``epochs`` on ``n_train`` images, in ``dtype``."""
    model: Model
    count: int
    epochs: int
    n_train: int = N_TRAIN
    dtype: str = "float32"

    def flops(self) -> int:
        per_epoch = self.n_train * self.model.train + N_VAL * self.model.forward
        return self.count * (self.epochs * per_epoch + N_TEST * self.model.forward)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def stage_runs(root: Path = ROOT) -> dict[str, list[Runs]]:
    """Each training stage's runs, from params.yaml and, for the ablation and data-fraction
    stages, the runs their files list."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    reports = root / params["paths"]["reports"]
    lin, mlp, cnn = params["linear"], params["mlp"], params["cnn"]
    models = {"linear": linear_model(), "mlp": mlp_model(mlp["hidden"])}

    def ablation(kind: str) -> list[Runs]:
        ladder = json.loads((reports / "ablation" / f"{kind}.json").read_text())
        return [Runs(models[kind] if kind == "linear" else mlp_model(r["settings"]["hidden"]),
                     len(r["seeds"]), r["settings"]["epochs"], dtype=r["settings"]["dtype"])
                for r in ladder["ladder"] + ladder["leave_one_out"]]

    def fraction(kind: str, dtype: str) -> list[Runs]:
        return [Runs(models[kind], 1, int(r["epochs"]), int(r["n_train"]), dtype)
                for r in read_csv(reports / kind / "fraction.csv")]

    def grid(settings: dict) -> int:
        return math.prod(len(values) for values in settings["grid"].values())

    rep = params["replicate"]
    seeds = len(rep["seeds"])
    shares = rep["mlp"]["fractions"]["shares"]
    rep_mlp = mlp_model(rep["mlp"]["hidden"])
    return {
        "linear_sweep": [Runs(models["linear"], grid(lin), lin["epochs"], dtype=lin["dtype"])],
        "mlp_sweep": [Runs(models["mlp"], grid(mlp), mlp["epochs"], dtype=mlp["dtype"])],
        "final@linear": [Runs(models["linear"], lin["final_seeds"], lin["epochs"],
                              dtype=lin["dtype"])],
        "final@mlp": [Runs(models["mlp"], mlp["final_seeds"], mlp["epochs"],
                           dtype=mlp["dtype"])],
        "cnn": [Runs(cnn_model(cnn["channels"], cnn["kernel_size"]),
                     grid(cnn) + cnn["final_seeds"] - 1, cnn["epochs"], dtype=cnn["dtype"])],
        "fraction@linear": fraction("linear", lin["dtype"]),
        "fraction@mlp": fraction("mlp", mlp["dtype"]),
        "ablation@linear": ablation("linear"),
        "ablation@mlp": ablation("mlp"),
        "sigma": [Runs(models["linear"], len(read_csv(reports / "sigma" / "sigma.csv")),
                       lin["epochs"], dtype=lin["dtype"])],
        # its MLP runs only (the recipe, the shares, the observations): its linear runs are
        # 784 x 10 GEMMs, far from any peak, and its sweep trains on 100 images
        "replicate": [Runs(rep_mlp, seeds, rep["mlp"]["epochs"], dtype=rep["dtype"]),
                      *(Runs(rep_mlp, seeds, rep["mlp"]["epochs"], round(share * N_TRAIN),
                             rep["dtype"]) for share in shares),
                      *(Runs(rep_mlp, seeds, o["epochs"], dtype=rep["dtype"])
                        for o in rep["mlp"]["observations"].values())],
    }


def budget(stage_s: dict[str, float], peak_gflops: dict[str, float], cores: int,
           root: Path = ROOT) -> dict:
    """Per training stage: its GEMM GFLOP, the seconds they take at the measured peak on every
    core (each dtype at its own peak), the measured seconds, and the share of the peak the
    stage achieved; then the totals and what a ``target_s`` study would need."""
    rows = {}
    for stage, runs in stage_runs(root).items():
        gflop = {dtype: sum(r.flops() for r in runs if r.dtype == dtype) / 1e9
                 for dtype in ("float32", "float64")}
        at_peak = sum(g / (peak_gflops[dtype] * cores) for dtype, g in gflop.items())
        measured = stage_s.get(stage)
        rows[stage] = {"gflop": round(sum(gflop.values()), 1),
                       "gflop_float64": round(gflop["float64"], 1),
                       "seconds_at_peak": round(at_peak, 1), "measured_s": measured,
                       "share_of_peak": round(at_peak / measured, 3) if measured else None}
    total_at_peak = sum(r["seconds_at_peak"] for r in rows.values())
    measured_total = sum(r["measured_s"] or 0.0 for r in rows.values())
    return {"stages": rows, "peak_gflops_per_core": peak_gflops, "cores": cores,
            "seconds_at_peak_total": round(total_at_peak, 1),
            "measured_s_total": round(measured_total, 1),
            "share_of_peak_total": round(total_at_peak / measured_total, 3)
            if measured_total else None}


if __name__ == "__main__":
    for name, runs in stage_runs().items():
        print(f"{name}: {sum(r.flops() for r in runs) / 1e9:,.0f} GFLOP")
