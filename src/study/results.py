"""The study's results as plain data, for the report: ``load_results`` reads the committed
reports/ into dataclasses, every file through one ``ReportInputs``, which records what it read
(so a test can hold the report stage's deps in dvc.yaml to exactly that set)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from study import layout
from study.stats import mcnemar, wilson_interval

MODELS = {"linear": "Linear softmax classifier", "mlp": "Two-layer MLP"}  # layout.MODELS
CNN = "CNN (beyond the assignment)"
BENCHMARKS = "benchmarks/results.json"  # `make bench`'s measurements
C0_RUNS = {"sgd": "SGD with momentum", "gd": "gradient descent, best fixed step",
           "cg": "conjugate gradient"}


class ReportInputs:
    """Reads files under ``root`` by their project-relative POSIX path ("reports/c0/x.json")
    and records each path in ``read``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.read: set[str] = set()

    def text(self, path: str) -> str:
        self.read.add(path)
        return (self.root / path).read_text(encoding="utf-8")

    def json(self, path: str):
        return json.loads(self.text(path))

    def yaml(self, path: str):
        return yaml.safe_load(self.text(path))

    def csv(self, path: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.text(path), newline="")))

    def records(self, path: str) -> list[dict]:
        """A CSV file's rows or a JSON file's list of records (what DVC plots read)."""
        return self.csv(path) if path.endswith(".csv") else self.json(path)


@dataclass(frozen=True)
class SweepGrid:
    """One sweep metric over the two-parameter grid: ``cols`` (the learning rates, across) and
    ``rows`` (the other parameter, down), each ascending; ``values`` (rows, cols) with None
    where the point diverged; ``chosen`` the (row, col) index of the chosen point."""
    col_key: str
    row_key: str
    cols: list
    rows: list
    values: list[list[float | None]]
    chosen: tuple[int, int]

    @property
    def table_rows(self) -> list[tuple[object, list[tuple[float | None, bool]]]]:
        """(row value, [(value, is the chosen point), one per column]) per row."""
        return [(row, [(value, (r, c) == self.chosen) for c, value in enumerate(values)])
                for r, (row, values) in enumerate(zip(self.rows, self.values, strict=True))]


def selection_rank(accuracy: float | None, loss: float | None) -> tuple[float, float]:
    """A sweep point's place under the choice's rule (study.classify.best_point), as a sort key:
    validation accuracy, ties to the lower validation loss; a diverged point (no accuracy) last."""
    return (-np.inf, -np.inf) if accuracy is None else (accuracy, -loss)


@dataclass(frozen=True)
class Classifier:
    """One classifier's reports (reports/<name>/). metrics: metrics.json; info: info.json
    (class_names, preprocessing); sweep: heatmap.json's records; per_class: per_class.csv's
    rows; confusion: (K, K) test counts, row = actual class, column = predicted, in the order
    of ``class_names``; fraction: fraction.csv's rows (test_accuracy None where that run
    diverged); curves: curves.csv's columns (per epoch); n_val: the validation images;
    correct: per test image, whether the headline model got it right (predictions.csv)."""
    name: str
    metrics: dict
    info: dict
    sweep: list[dict]
    per_class: list[dict]
    confusion: np.ndarray
    fraction: list[dict]
    curves: dict[str, list[float]]
    n_val: int
    correct: np.ndarray

    @property
    def n_test(self) -> int:
        return int(self.confusion.sum())

    def test_interval(self) -> tuple[float, float]:
        """The Wilson 95% interval of the headline model's test accuracy."""
        return wilson_interval(int(np.trace(self.confusion)), self.n_test)

    def class_intervals(self) -> list[dict]:
        """Per class, in class order: name, accuracy, its Wilson 95% interval (low, high) and
        the class's test images (n), from the confusion matrix."""
        rows = []
        for i, name in enumerate(self.class_names):
            n, right = int(self.confusion[i].sum()), int(self.confusion[i, i])
            low, high = wilson_interval(right, n)
            rows.append({"class": name, "accuracy": right / n, "low": low, "high": high, "n": n})
        return rows

    def ties_with(self, class_name: str) -> list[str]:
        """The other classes whose accuracy lies inside ``class_name``'s 95% interval: a best
        or worst class that has any is a near-tie, not a finding."""
        rows = {r["class"]: r for r in self.class_intervals()}
        own = rows[class_name]
        return [name for name, r in rows.items()
                if name != class_name and own["low"] <= r["accuracy"] <= own["high"]]

    def fraction_summary(self) -> list[dict]:
        """Per share of the training split, in the order run: fraction, n_train, epochs, and the
        test accuracy's mean and sample standard deviation over the seeds that finished
        (``seeds``: how many), None where none did."""
        shares: dict[float, list[dict]] = {}
        for row in self.fraction:
            shares.setdefault(row["fraction"], []).append(row)
        summary = []
        for fraction, rows in shares.items():
            done = np.array([r["test_accuracy"] for r in rows if r["test_accuracy"] is not None])
            summary.append({"fraction": fraction, "n_train": rows[0]["n_train"],
                            "epochs": rows[0]["epochs"], "seeds": len(done),
                            "mean": float(done.mean()) if len(done) else None,
                            "sd": float(done.std(ddof=1)) if len(done) > 1 else 0.0})
        return summary

    @property
    def class_names(self) -> list[str]:
        return self.info["class_names"]

    @property
    def best_class(self) -> str:
        """The name of the class with the highest test accuracy (metrics.json holds its
        index)."""
        return self.class_names[self.metrics["best_class"]]

    @property
    def worst_class(self) -> str:
        return self.class_names[self.metrics["worst_class"]]

    def class_accuracy(self, class_name: str) -> float:
        return next(row["accuracy"] for row in self.per_class if row["class"] == class_name)

    def sweep_values(self, metric: str) -> list[float]:
        """The metric at every sweep point that did not diverge."""
        return [r["value"] for r in self.sweep if r["metric"] == metric and r["value"] is not None]

    def sweep_grid(self, metric: str) -> SweepGrid:
        keys = [k for k in self.sweep[0] if k not in ("metric", "value")]
        if len(keys) != 2:
            raise ValueError(f"{self.name}'s heatmap.json: expected a two-parameter grid, "
                             f"got parameters {keys}")
        col_key, row_key = (keys[0], keys[1]) if keys[0] == "lr" else (keys[1], keys[0])
        records = [r for r in self.sweep if r["metric"] == metric]
        cols = sorted({r[col_key] for r in records})
        rows = sorted({r[row_key] for r in records})
        values: list[list[float | None]] = [[None] * len(cols) for _ in rows]
        for r in records:
            values[rows.index(r[row_key])][cols.index(r[col_key])] = r["value"]
        best = self.metrics["best"]
        return SweepGrid(col_key, row_key, cols, rows, values,
                         (rows.index(best[row_key]), cols.index(best[col_key])))

    def best_row_per_column(self) -> list[tuple[float, float]]:
        """Per learning rate (ascending), the other swept setting that the selection's rule
        picks there (validation accuracy, ties to the lower loss): (lr, setting)."""
        accuracy, loss = self.sweep_grid("val accuracy"), self.sweep_grid("val loss")
        return [(col, accuracy.rows[max(range(len(accuracy.rows)), key=lambda r: selection_rank(
                    accuracy.values[r][c], loss.values[r][c]))])
                for c, col in enumerate(accuracy.cols)]

    def runner_up(self) -> dict | None:
        """The sweep point second to the chosen one by the selection's rule (validation
        accuracy, ties to the lower loss), with margin_images: by how many validation images
        the chosen point beats it; None for a sweep with no other finished point."""
        scores: dict[tuple, dict] = {}
        for r in self.sweep:
            point = tuple((k, v) for k, v in r.items() if k not in ("metric", "value"))
            scores.setdefault(point, {})[r["metric"]] = r["value"]
        best = self.metrics["best"]
        ranked = sorted(((selection_rank(s["val accuracy"], s["val loss"]), dict(p))
                         for p, s in scores.items() if s["val accuracy"] is not None
                         and dict(p) != best), key=lambda t: t[0], reverse=True)
        if not ranked:
            return None
        (accuracy, _), point = ranked[0]
        chosen = next(s["val accuracy"] for p, s in scores.items() if dict(p) == best)
        return {"point": point, "val_accuracy": accuracy,
                "margin_images": round((chosen - accuracy) * self.n_val)}

    def seed_noise_images(self) -> float:
        """The seeds' standard deviation of validation accuracy, in validation images."""
        return self.metrics["val"]["accuracy_std"] * self.n_val

    def chosen_column(self, metric: str = "val accuracy",
                      column: int | None = None) -> list[tuple[object, float | None]]:
        """(row value, metric) down a column of the sweep, the chosen point's unless ``column``
        (an index into the ascending learning rates) is given: e.g. each lambda at the chosen
        learning rate."""
        grid = self.sweep_grid(metric)
        column = grid.chosen[1] if column is None else column
        return [(row, values[column]) for row, values in zip(grid.rows, grid.values, strict=True)]

    def column_spread(self, column: int | None = None) -> dict:
        """In validation images, down the chosen point's column (or ``column``'s): ``all``, how
        far apart its best and worst rows are; ``but_last``, the same without the last (largest)
        row; ``last_cost``, how far the last row falls below the best of the others."""
        values = [v for _, v in self.chosen_column(column=column) if v is not None]
        others = values[:-1] or values
        return {"all": round((max(values) - min(values)) * self.n_val),
                "but_last": round((max(others) - min(others)) * self.n_val),
                "last_cost": round((max(others) - values[-1]) * self.n_val)}

    def column_spreads(self) -> list[dict]:
        """``column_spread`` of every learning rate's column with a finished point, in
        ascending order (a column where every point diverged has no spread)."""
        grid = self.sweep_grid("val accuracy")
        return [self.column_spread(c) for c in range(len(grid.cols))
                if any(values[c] is not None for values in grid.values)]

    @property
    def overfitting(self) -> dict:
        """gap: train minus validation accuracy after the last epoch; best_epoch and
        best_val_loss: where validation loss is lowest; last_val_loss: where it ends."""
        val_loss = self.curves["val_loss"]
        best_epoch = int(np.argmin(val_loss))
        return {"gap": self.curves["train_accuracy"][-1] - self.curves["val_accuracy"][-1],
                "best_epoch": int(self.curves["epoch"][best_epoch]),
                "best_val_loss": val_loss[best_epoch], "last_val_loss": val_loss[-1]}

    def errors_per_class(self) -> list[int]:
        """Misclassified test images of each class, in the order of ``class_names``."""
        return [int(n) for n in self.confusion.sum(axis=1) - np.diag(self.confusion)]

    def confusions_of(self, class_name: str, n: int) -> list[tuple[str, int]]:
        """The ``n`` classes the test images of ``class_name`` are most often taken for, with
        how often (most frequent first, ties in class order; no zeros)."""
        row = self.confusion[self.class_names.index(class_name)].copy()
        row[self.class_names.index(class_name)] = 0
        order = np.argsort(-row, kind="stable")[:n]
        return [(self.class_names[p], int(row[p])) for p in order if row[p]]

    def gain_per_doubling(self) -> float:
        """Mean test accuracy gained per doubling of the training images, from the smallest to
        the largest share (a straight line in log2 of the images)."""
        points = [p for p in self.fraction_summary() if p["mean"] is not None]
        first, last = points[0], points[-1]
        return (last["mean"] - first["mean"]) / np.log2(last["n_train"] / first["n_train"])

    @property
    def misclassified(self) -> int:
        return int(self.confusion.sum() - np.trace(self.confusion))

    def top_confusions(self, n: int) -> list[tuple[str, str, int]]:
        """The ``n`` most frequent (actual, predicted, count) mistakes, most frequent first
        (ties in class order)."""
        off = self.confusion.copy()
        np.fill_diagonal(off, 0)
        order = np.argsort(-off, axis=None, kind="stable")[:n]
        return [(self.class_names[a], self.class_names[p], int(off[a, p]))
                for a, p in zip(*np.unravel_index(order, off.shape), strict=True) if off[a, p]]


@dataclass(frozen=True)
class Results:
    """Everything the report's text shows. data: "idx", "cifar10" -> reports/data/<name>.json;
    params: the composed settings (params.yaml, with any command-line overrides)."""
    linear: Classifier
    mlp: Classifier
    cnn: Classifier                  # beyond the assignment; no data-fraction runs
    cnn_epoch: dict                  # benchmarks/results.json: a CNN epoch timed beside PyTorch
    torch_parity: dict               # benchmarks/results.json: the modules against PyTorch
    sklearn: dict                    # reports/sklearn/metrics.json
    sklearn_info: dict               # reports/sklearn/info.json: model, dtype, preprocessing
    scalar: list[dict]
    module_grad: dict
    blur: dict                       # reports/blur/metrics.json
    blur_info: dict                  # reports/blur/info.json: reference, images, kernel
    c0: dict
    c0_targets: dict
    data: dict[str, dict]
    params: dict
    ablation: dict[str, dict]        # model -> reports/ablation/<model>.json: ladder, leave-one-out
    sigma: list[dict]                # reports/sigma/sigma.json's initialisations
    replication: dict                # reports/replicate/: metrics, and each table's rows
    sklearn_correct: dict[str, np.ndarray]  # per test image: "chosen" C's fit, "at_our_lambda"

    def mcnemar(self, a: np.ndarray, b: np.ndarray) -> dict:
        """McNemar's exact test of two classifiers' per-test-image ``correct`` vectors."""
        return mcnemar(a, b)

    @property
    def classifiers(self) -> list[Classifier]:
        return [self.linear, self.mlp]


def load_classifier(inputs: ReportInputs, reports: str, name: str, n_val: int) -> Classifier:
    """The reports of classifier ``name`` under ``reports`` (the reports folder, relative to
    the root), trained with ``n_val`` validation images."""
    def file(file_name: str) -> str:
        return layout.output(reports, name, file_name)

    per_class = [{"class": row["class"], "accuracy": float(row["accuracy"]),
                  "loss": float(row["loss"])} for row in inputs.csv(file("per_class.csv"))]
    info = inputs.json(file("info.json"))
    names = info["class_names"]
    index = {class_name: i for i, class_name in enumerate(names)}
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    for row in inputs.csv(file("confusion.csv")):  # one row per cell
        confusion[index[row["actual"]], index[row["predicted"]]] = int(row["count"])
    fraction = [{"fraction": float(row["fraction"]), "seed": int(row["seed"]),
                 "n_train": int(row["n_train"]), "epochs": int(row["epochs"]),
                 "val_accuracy": float(row["val_accuracy"]) if row["val_accuracy"] else None,
                 "test_accuracy": float(row["test_accuracy"]) if row["test_accuracy"] else None}
                for row in inputs.csv(file("fraction.csv"))] if name in MODELS else []
    predictions = inputs.csv(file("predictions.csv"))
    correct = np.array([row["actual"] == row["predicted"] for row in predictions])
    rows = inputs.csv(file("curves.csv"))
    curves = {key: [float(row[key]) for row in rows] for key in rows[0]}
    return Classifier(name, inputs.json(file("metrics.json")), info,
                      inputs.json(file("heatmap.json")), per_class, confusion, fraction,
                      curves, n_val, correct)


def load_results(inputs: ReportInputs, params: dict) -> Results:
    """The reports under ``inputs.root``; ``params`` is the composed configuration (a dict),
    whose paths.reports names the reports' folder."""
    reports = params["paths"]["reports"]
    data = {name: inputs.json(layout.data_set(reports, name)) for name in layout.DATA_SETS}
    n_val = data["idx"]["counts"]["val"]

    def other(name: str, file: str) -> dict:
        return inputs.json(layout.output(reports, name, file))

    return Results(
        **{model: load_classifier(inputs, reports, model, n_val)
           for model in layout.CLASSIFIERS},
        cnn_epoch=inputs.json(BENCHMARKS)["cnn_epoch_float32"],
        torch_parity=inputs.json(BENCHMARKS)["torch_parity_float64"],
        sklearn=other("sklearn", "metrics.json"),
        sklearn_info=other("sklearn", "info.json"),
        scalar=other("scalar", "gradients.json"),
        module_grad=other("module_grad", "gradients.json"),
        blur=other("blur", "metrics.json"),
        blur_info=other("blur", "info.json"),
        c0=other("c0", "metrics.json"),
        c0_targets=other("c0", "targets.json"),
        data=data,
        params=params,
        ablation={model: inputs.json(layout.ablation(reports, model, ".json"))
                  for model in MODELS},
        sigma=inputs.json(layout.sigma(reports, ".json")),
        sklearn_correct=_sklearn_correct(inputs.csv(layout.output(reports, "sklearn",
                                                                  "predictions.csv"))),
        replication={"metrics": other("replicate", "metrics.json"),
                     **{table: [{k: _cell(v) for k, v in row.items()} for row in inputs.csv(
                         layout.output(reports, "replicate", f"{table}.csv"))]
                        for table in ("replication", "sweep", "candidates", "mlp_observations")}},
    )


def _sklearn_correct(rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    return {"chosen": np.array([r["actual"] == r["predicted"] for r in rows]),
            "at_our_lambda": np.array([r["actual"] == r["predicted_at_our_lambda"]
                                       for r in rows])}


def _cell(value: str):
    """A CSV cell as a number where it is one, else the text."""
    try:
        return float(value)
    except ValueError:
        return value
