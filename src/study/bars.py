"""The promises the study makes, checked against the committed reports (run by .ci/run after
`dvc repro`): every metrics file of the contract exists with its keys, every file dvc.yaml
tracks as metrics holds numbers only (so `dvc metrics diff` and `dvc exp show` compare them;
words and lists go to an info.json beside it), and the accuracy bars hold. Exit status 1
lists every broken promise.

    study-bars
"""

from __future__ import annotations

import math
import reprlib
import sys
from pathlib import Path

import yaml
from dvc.repo import Repo

from study import layout
from study.io import read_json

FRACTIONS = "<each of fraction.values in params.yaml>"
# (experiment, file) -> dotted keys that users and tools rely on; best_class and worst_class
# are indices into info.json's class_names
CLASSIFIER_METRICS = ["test.accuracy", "test.loss", "val.accuracy", "train.accuracy", "best.lr",
                      "best_class", "worst_class"]
SEED_SPREAD = ["test.accuracy_mean", "test.accuracy_std", "seeds"]
INFO = ["class_names", "preprocessing"]
CONTRACT = {
    ("linear", "metrics.json"): [*CLASSIFIER_METRICS, "best.lambda", *SEED_SPREAD],
    ("linear", "info.json"): INFO,
    ("linear", "fraction.json"): FRACTIONS,
    ("mlp", "metrics.json"): [*CLASSIFIER_METRICS, "best.batch_size", *SEED_SPREAD],
    ("mlp", "info.json"): INFO,
    ("mlp", "fraction.json"): FRACTIONS,
    ("cnn", "metrics.json"): [*CLASSIFIER_METRICS, *SEED_SPREAD],
    ("cnn", "info.json"): INFO,
    ("sklearn", "metrics.json"): ["train.accuracy", "val.accuracy", "test.accuracy",
                                  "at_our_lambda.test.accuracy"],
    ("scalar", "gradients.json"): ["0.point", "0.expression", "0.f", "0.grad", "0.fd_rel_error"],
    ("blur", "metrics.json"): ["max_abs_diff_vs_reference"],
    ("replicate", "metrics.json"): ["reproduced", "rows", "linear.candidates_mean_accuracy",
                                    "linear.candidates_seeds_printing_as_original",
                                    "mlp.test_accuracy_mean"],
    ("c0", "metrics.json"): [f"{opt}.{key}" for opt in ("sgd", "cg") for key in (
        "max_abs_weight_error", "relative_weight_error", "relative_output_error",
        "output_l2_distance", "iterations", "converged")],
}


def contract_paths(reports: str) -> dict[tuple[str, str], str]:
    """Each file of the contract's path (study.layout) under the reports folder ``reports``."""
    return {(name, file): layout.output(reports, name, file) for name, file in CONTRACT}


# Loose regression floors on VALIDATION accuracy (the test set gates nothing, so no choice of
# ours can be steered by it), each at least half a point below the committed result
# (tests/test_bars.py holds that margin): they catch a broken pipeline, not a tuned number.
VAL_ACCURACY_FLOORS = {"linear": 0.91, "mlp": 0.975, "cnn": 0.98}
LINEAR_MAX_VAL_GAP_TO_SKLEARN = 0.005  # ours may trail scikit-learn's by at most this
GATE_MARGIN = 0.005  # how far above each floor the committed results must sit
SCALAR_MAX_FD_REL_ERROR = 1e-6
BLUR_MAX_ABS_DIFF = 1e-12
C0_MAX_RELATIVE_WEIGHT_ERROR = 1e-4  # for the curvature-aware optimiser (cg)
C0_MAX_RELATIVE_OUTPUT_ERROR = 1e-6


def lookup(obj, dotted: str):
    """obj["a"]["b"] for "a.b"; a numeric part indexes a list; a key that itself contains
    dots (a fraction such as "0.1") is looked up whole first."""
    if isinstance(obj, dict) and dotted in obj:
        return obj[dotted]
    for part in dotted.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def broken_promises(root: Path) -> list[str]:
    problems, loaded = contract_problems(root)
    problems += non_numeric_metrics(root)
    return problems or bars_missed(loaded)


def contract_problems(root: Path) -> tuple[list[str], dict]:
    """Missing files and keys of the metrics contract, each with the stage to re-run; and the
    files that could be read, by (experiment, file)."""
    problems, loaded = [], {}
    params = yaml.safe_load((root / "params.yaml").read_text())
    fractions = [str(f) for f in params["fraction"]["values"]]
    paths = contract_paths(params["paths"]["reports"])
    writers = None
    for entry, keys in CONTRACT.items():
        keys, name = (fractions if keys is FRACTIONS else keys), paths[entry]
        path = root / name
        missing = ([] if path.is_file() else ["the file"])
        if path.is_file():
            loaded[entry] = data = read_json(path)
            for key in keys:
                try:
                    lookup(data, key)
                except (KeyError, TypeError, IndexError, ValueError):
                    missing.append(key)
        if missing:
            writers = writers or writing_stages(root)
            stage = writers.get(name, "the stage that writes it")
            problems.append(f"{name} lacks {', '.join(missing)}: re-run {stage} "
                            f"(dvc repro --force {stage})" if missing != ["the file"] else
                            f"{name} is missing: run {stage} (dvc repro {stage})")
    return problems, loaded


def writing_stages(root: Path) -> dict[str, str]:
    """Each output dvc.yaml under ``root`` declares -> the stage that writes it."""
    with Repo(str(root), uninitialized=True) as repo:
        return {out.def_path: stage.name for stage in repo.index.stages
                for out in stage.outs}


def tracked_metrics(root: Path) -> list[str]:
    """The files dvc.yaml under ``root`` declares as metrics, as DVC expands it (foreach,
    ${...} from params.yaml)."""
    with Repo(str(root), uninitialized=True) as repo:  # a folder without .dvc/ reads too
        return [out.def_path for out in repo.index.metrics]


def not_numbers(data, key: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) of every value in ``data`` that is not an int or a float in nested
    dicts: a string, a list, a boolean or a null."""
    if isinstance(data, dict):
        return [found for k, v in data.items()
                for found in not_numbers(v, f"{key}.{k}" if key else str(k))]
    return [] if isinstance(data, int | float) and not isinstance(data, bool) else [(key, data)]


def non_numeric_metrics(root: Path) -> list[str]:
    """What is not a number in the files DVC tracks as metrics (a missing file is the
    contract's to name)."""
    return [f"{name}: {key} is {reprlib.repr(value)}, not a number, which DVC needs to compare "
            "metrics: write a flag as 1 or 0, and words or lists to an output that is not a "
            "metric (as info.json beside it)"
            for name in tracked_metrics(root) if (root / name).is_file()
            for key, value in not_numbers(read_json(root / name))]


def gates(loaded: dict) -> list[tuple[str, float, float]]:
    """(what, value, floor) of each accuracy bar over the results in ``loaded``: each model's
    validation accuracy, and ours against scikit-learn's on validation."""
    val = {name: loaded[name, "metrics.json"]["val"]["accuracy"] for name in VAL_ACCURACY_FLOORS}
    sklearn = loaded["sklearn", "metrics.json"]["val"]["accuracy"]
    return [*((f"{name} validation accuracy", val[name], floor)
              for name, floor in VAL_ACCURACY_FLOORS.items()),
            ("linear validation accuracy minus scikit-learn's", val["linear"] - sklearn,
             -LINEAR_MAX_VAL_GAP_TO_SKLEARN)]


def bars_missed(loaded: dict) -> list[str]:
    """The bars the results in ``loaded`` (by (experiment, file), as contract_problems read
    them) miss."""
    problems = [f"{gate}: {value:.4f} < {floor:.4f}" for gate, value, floor in gates(loaded)
                if not value >= floor]
    for entry in loaded["scalar", "gradients.json"]:
        if not (entry["fd_rel_error"] <= SCALAR_MAX_FD_REL_ERROR and math.isfinite(entry["f"])):
            problems.append(f"scalar gradient at {entry['point']}: f {entry['f']}, "
                            f"finite-difference error {entry['fd_rel_error']}")
    blur = loaded["blur", "metrics.json"]["max_abs_diff_vs_reference"]
    if not blur <= BLUR_MAX_ABS_DIFF:
        problems.append(f"blur differs from the reference by {blur} > {BLUR_MAX_ABS_DIFF}")
    cg = loaded["c0", "metrics.json"]["cg"]
    if not (cg["relative_weight_error"] <= C0_MAX_RELATIVE_WEIGHT_ERROR
            and cg["relative_output_error"] <= C0_MAX_RELATIVE_OUTPUT_ERROR):
        problems.append(f"C0 recovery by cg: relative weight error {cg['relative_weight_error']}"
                        f" (bar {C0_MAX_RELATIVE_WEIGHT_ERROR}), relative output error "
                        f"{cg['relative_output_error']} (bar {C0_MAX_RELATIVE_OUTPUT_ERROR})")
    return problems


def main() -> int:
    problems = broken_promises(Path.cwd())
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    if not problems:
        print(f"study-bars: every key of the metrics contract in {len(CONTRACT)} files is "
              "present, every metric DVC tracks is a number, and the bars hold")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
