"""The classifier experiments (the linear softmax classifier and the MLP): the prepared data's
arrays, building and training a classifier from its config section, and what each classifier
stage writes: a sweep point, the selection over the sweep (on VALIDATION accuracy), the final
model (the one look at the TEST set) and the data-fraction bonus."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import barenet as bn
from barenet.saving import describe
from study.data import IMAGE_SHAPE, seeded_subset
from study.io import Table, read_json
from study.pool import fork_map
from study.progress import Progress
from study.settings import overlaid
from study.stats import wilson_interval
from study.threads import one_thread

SPLITS = ("train", "val", "test")


@dataclass
class Prepared:
    """Flattened, standardised inputs (N, 784) and int64 labels (N,) for each split."""
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    class_names: list[str]
    preprocessing: dict


def load_prepared(data_dir: str | Path, dtype: str, standardise: bool = True,
                  scale_pixels: bool = True) -> Prepared:
    """Read the prepare stage's outputs; scale pixels to [0, 1], then (``standardise``)
    standardise with the mean and standard deviation of the TRAIN split only (validation and
    test never leak in). Without ``scale_pixels`` (and ``standardise``) the pixels stay raw
    0-255 values, as the original attempt's linear classifier read them."""
    if standardise and not scale_pixels:
        raise ValueError("standardising needs scaled pixels: set scale_pixels true")
    data_dir = Path(data_dir)
    meta = read_json(data_dir / "meta.json")
    if "train_pixels" not in meta:
        raise ValueError(f"{data_dir / 'meta.json'} has no train_pixels statistics: it was "
                         "written by an older prepare stage; run `dvc repro prepare_idx`")
    mean, std = meta["train_pixels"]["mean"], meta["train_pixels"]["std"]
    if not standardise:  # x / 255 alone is (x / 255 - 0) / 1
        mean, std = 0.0, 1.0
    x = {s: _standardised(np.load(data_dir / f"x_{s}.npy"), mean, std, dtype, scale_pixels)
         for s in SPLITS}
    labels = {s: np.load(data_dir / f"y_{s}.npy").astype(np.int64) for s in SPLITS}
    preprocessing = {"flatten": "28x28 -> 784", "scale": "x / 255" if scale_pixels else "none",
                     "standardise": ("(x - mean) / std, statistics of the train split"
                                     if standardise else "none"),
                     "mean": mean, "std": std if scale_pixels else 1 / 255,
                     "background": -mean / std, "dtype": dtype}
    return Prepared(x, labels, meta["class_names"], preprocessing)


def _standardised(images: np.ndarray, mean: float, std: float, dtype: str,
                  scale_pixels: bool = True, rows: int = 4096) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 784) ``dtype``, (x / 255 - mean) / std computed in float64 a few
    thousand rows at a time: the same bits as on the whole array, without its temporaries;
    without ``scale_pixels``, x itself."""
    flat = images.reshape(len(images), -1)
    if not scale_pixels:
        return flat.astype(dtype)
    out = np.empty(flat.shape, dtype)
    for start in range(0, len(flat), rows):
        out[start:start + rows] = (flat[start:start + rows] / 255.0 - mean) / std
    return out


def build_model(kind: str, section: Mapping, n_features: int, n_classes: int,
                rng: np.random.Generator) -> bn.Module:
    dtype = np.dtype(section["dtype"])
    if kind == "linear":
        return bn.SoftmaxClassifier(n_features, n_classes, bias=bool(section["bias"]), rng=rng,
                                    dtype=dtype, weight_std=section["init_std"])
    if kind == "mlp":
        return bn.MLP(n_features, int(section["hidden"]), n_classes, rng=rng, dtype=dtype,
                      weight_std=section["init_std"])
    if kind == "cnn":
        return cnn(section, n_classes, rng, dtype)
    raise ValueError(f"model must be 'linear', 'mlp' or 'cnn', got {kind!r}")


def cnn(section: Mapping, n_classes: int, rng: np.random.Generator, dtype) -> bn.Sequential:
    """Two blocks of Conv2d (odd kernel, 'same' padding) -> ReLU -> MaxPool2d(2), then one
    Linear layer on the flattened maps; it takes the (N, 784) rows the other classifiers take."""
    (c1, c2), k = (int(c) for c in section["channels"]), int(section["kernel_size"])
    h, w = IMAGE_SHAPE
    return bn.Sequential(
        bn.Reshape((1, h, w)),
        bn.Conv2d(1, c1, k, padding=k // 2, rng=rng, dtype=dtype), bn.ReLU(), bn.MaxPool2d(2),
        bn.Conv2d(c1, c2, k, padding=k // 2, rng=rng, dtype=dtype), bn.ReLU(), bn.MaxPool2d(2),
        bn.Flatten(), bn.Linear(c2 * (h // 4) * (w // 4), n_classes, rng=rng, dtype=dtype))


def train_classifier(kind: str, section: Mapping, data: Prepared,
                     subset: np.ndarray | None = None, progress: Progress | None = None,
                     train_curves: bool = True, val_curves: bool = True
                     ) -> tuple[bn.Module, bn.History]:
    """Fit a fresh model with the hyperparameters in ``section`` on the train split (or the
    rows ``subset`` of it), validating after every epoch; the train split is measured after
    every epoch too, or with ``train_curves=False`` after the last one only (sweep and
    fraction points, which need no train curves); ``val_curves=False`` validates after the
    last epoch only (the fraction runs: up to ten times the epochs on a tenth of the images,
    where validating every epoch would cost as much as training). Each epoch's scores go to
    ``progress`` (a bar on a terminal, a few lines in a log). Seeded: same section, same bytes."""
    rng = np.random.default_rng(int(section["seed"]))
    x, y = data.x["train"], data.y["train"]
    if subset is not None:
        x, y = x[subset], y[subset]
    model = build_model(kind, section, x.shape[1], len(data.class_names), rng)
    optimizer = bn.SGD(model.parameters(), lr=float(section["lr"]),
                       momentum=float(section["momentum"]))
    scheduler = bn.ExponentialLR(optimizer, float(section["lr_decay"]))

    epochs = int(section["epochs"])
    history = bn.History()

    def end_of_epoch(epoch: int) -> bool:
        """Measure, decay the learning rate, report; True (stop) if the model diverged."""
        last = epoch == epochs
        if history.record_epoch(epoch, model, train=(x, y) if train_curves or last else None,
                                validation=(data.x["val"], data.y["val"])
                                if val_curves or last else None):
            return True
        scheduler.step()
        if progress is not None:
            progress.update(epoch, epoch_status(history, epoch, epochs))
        return False

    shift = int(section["shift"])
    background = data.preprocessing["background"]

    def augment(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return bn.random_shift(batch, shift, rng, IMAGE_SHAPE, fill=background)

    batches = bn.Batches(int(section["batch_size"]), rng, augment if shift else None)
    with one_thread():
        diverged_at = bn.fit(model, optimizer, bn.SoftmaxCrossEntropy(section["gradient"]), x, y,
                             epochs=epochs, batches=batches,
                             penalty=bn.L2Penalty.on_weights(
                                 model, float(section["lambda"]),
                                 per_sample=section["l2_per"] == "image"),
                             on_epoch=end_of_epoch)
    if diverged_at is not None:
        history.diverged_at_epoch = diverged_at
    return model, history


def grid_points(grid: Mapping[str, list]) -> list[dict]:
    """Every combination of the grid's values, in dvc.yaml matrix order."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(grid[k] for k in keys))]


def point_name(point: Mapping) -> str:
    """File stem of a sweep point, keys in alphabetical order, e.g. ``lambda_0.005-lr_0.1``.
    Values print as DVC's templating prints them (Python str), so the out paths in dvc.yaml
    and this agree, whatever the order of the keys in conf/."""
    return "-".join(f"{key}_{point[key]}" for key in sorted(point))


def best_point(results: list[dict]) -> dict:
    """The point with the best final validation accuracy; ties go to the lower validation
    loss. Diverged points never win. Raises if every point diverged."""
    finished = [r for r in results if not r["diverged"]]
    if not finished:
        raise ValueError("every sweep point diverged: lower the learning rates in the grid")
    return max(finished, key=lambda r: (r["val_accuracy"], -r["val_loss"]))


def with_chosen_point(section: Mapping, best: Mapping) -> tuple[dict, dict]:
    """A copy of a classifier's config ``section`` with the grid values its select stage chose
    (``best``, best.json's content) put in place; and those chosen values alone."""
    chosen = {key: best[key] for key in section["grid"]}
    return overlaid(section, chosen), chosen


def history_record(history: bn.History) -> dict:
    def last(values: list[float]) -> float | None:
        return values[-1] if values and not history.diverged else None

    return {
        "diverged": history.diverged,
        "diverged_at_epoch": history.diverged_at_epoch,
        "train_accuracy": last(history.train_accuracy),
        "train_loss": last(history.train_loss),
        "val_accuracy": last(history.val_accuracy),
        "val_loss": last(history.val_loss),
        "history": {"train_loss": history.train_loss, "train_accuracy": history.train_accuracy,
                    "val_loss": history.val_loss, "val_accuracy": history.val_accuracy},
    }


def epoch_status(history: bn.History, epoch: int, epochs: int) -> str:
    """One epoch's scores for a progress line; the train split's only when it was measured
    (every epoch, or the last only: ``train_classifier(..., train_curves=False)``)."""
    val = f"val acc {history.val_accuracy[-1]:.4f} loss {history.val_loss[-1]:.4g}"
    if len(history.train_loss) != epoch and epoch != epochs:
        return val
    return (f"train acc {history.train_accuracy[-1]:.4f} loss {history.train_loss[-1]:.4g} | "
            f"{val}")


# --- what each classifier stage writes -----------------------------------------------------

SWEEP_LOG_LINES = 5  # progress lines per sweep point run alone, when not on a terminal


def sweep_point_outputs(kind: str, section: Mapping, data: Prepared,
                        epoch_progress: bool = True) -> tuple[dict, str]:
    """Train one sweep point (its grid values already set in ``section``) and record its
    validation scores: {"sweep/<point>.json": record} and a summary line. A point whose loss
    becomes NaN or inf is recorded as diverged, with the epoch. The train split is measured
    after the last epoch only: the choice is made on validation. ``epoch_progress``: a line or
    bar per epoch (off when points run side by side: sweep_outputs reports per point)."""
    point = {key: section[key] for key in section["grid"]}
    progress = (Progress(f"{kind}_sweep {point_name(point)}", section["epochs"],
                         max_lines=SWEEP_LOG_LINES) if epoch_progress else nullcontext())
    with progress as bar:
        _, history = train_classifier(kind, section, data, progress=bar, train_curves=False)
    record = {"point": point, **history_record(history)}
    outcome = (f"diverged in epoch {history.diverged_at_epoch}" if history.diverged
               else f"val acc {record['val_accuracy']:.4f} loss {record['val_loss']:.4f}")
    return {f"sweep/{point_name(point)}.json": record}, f"{point_name(point)}: {outcome}"


def sweep_outputs(kind: str, section: Mapping, data: Prepared,
                  workers: int = 1) -> tuple[dict, str]:
    """Every point of the section's grid, over ``workers`` processes (study.pool: the same
    bytes as one after another), each written as sweep_point_outputs writes it, and the choice
    among them (selection_outputs); and a summary line."""
    grid = section["grid"]
    points = grid_points(grid)
    with Progress(f"{kind}_sweep", len(points), unit="point",
                  max_lines=len(points)) as progress:
        runs = fork_map(lambda point: sweep_point_outputs(kind, overlaid(section, point), data,
                                                          epoch_progress=False),
                        points, workers,
                        on_result=lambda i, run: progress.update(i, run[1]))
    outputs = {name: record for files, _ in runs for name, record in files.items()}
    selection, summary = selection_outputs(grid, list(outputs.values()))
    return {**outputs, **selection}, summary


def selection_outputs(grid: Mapping[str, list], results: list[dict]) -> tuple[dict, str]:
    """The sweep's points (``results``, in grid_points order) tabulated and the best chosen on
    validation accuracy: sweep.csv, sweep.md, heatmap.json (validation accuracy and loss per
    grid cell, for the heatmap template in .dvc/plots/), best.json; and a summary line."""
    best = best_point(results)
    keys = list(grid)
    metrics = ("val_accuracy", "val_loss", "train_accuracy")
    rows = [[*(r["point"][k] for k in keys), r["val_accuracy"], r["val_loss"],
             r["train_accuracy"], r["diverged_at_epoch"]] for r in results]
    lines = ["| " + " | ".join([*keys, *(m.replace("_", " ") for m in metrics)]) + " |",
             "|" + "---:|" * (len(keys) + len(metrics))]
    for r in results:
        scores = ([f"diverged (epoch {r['diverged_at_epoch']})"] + [""] * 2 if r["diverged"]
                  else [f"{r[m]:.4f}" for m in metrics])
        if r is best:
            scores[0] = f"**{scores[0]}** (chosen)"
        lines.append("| " + " | ".join([*(str(r["point"][k]) for k in keys), *scores]) + " |")
    heatmap = [{**{k: r["point"][k] for k in keys}, "metric": metric.replace("_", " "),
                "value": r[metric]}
               for metric in ("val_accuracy", "val_loss") for r in results]
    n_diverged = sum(r["diverged"] for r in results)
    summary = (f"best of {len(results)} points ({n_diverged} diverged): "
               f"{point_name(best['point'])} val acc {best['val_accuracy']:.4f}")
    return {"sweep.csv": Table([*keys, *metrics, "diverged_at_epoch"], rows),
            "sweep.md": "\n".join(lines) + "\n",
            "heatmap.json": heatmap,
            "best.json": {**best["point"], "val_accuracy": best["val_accuracy"],
                          "val_loss": best["val_loss"]}}, summary


def final_outputs(kind: str, section: Mapping, best: Mapping, data: Prepared,
                  workers: int = 1) -> tuple[dict, bytes, str]:
    """Retrain with the chosen point, then touch the TEST set exactly once: metrics.json
    (train/val/test accuracy and loss, the chosen point, best and worst test class as indices
    into info.json's class_names), info.json (class_names, preprocessing), curves.csv (per
    epoch, train and validation, to show any over-fitting), per_class.csv (per_class_table),
    confusion.csv (the test confusion matrix: one row per cell, actual, predicted, count),
    weights.png and mistakes.png (the most confidently misclassified test images), all of the
    run with
    ``seed``; and a summary line. The same point is retrained with the seeds after it
    (``final_seeds`` runs in all, spread over ``workers`` processes): metrics.json adds each
    seed's scores and their mean and sample standard deviation, so a reader sees how much of a
    difference is noise. Returns those files, the model file of the run with ``seed``
    (``model_file``) and the summary line."""
    section, chosen = with_chosen_point(section, best)
    with Progress(f"final@{kind}", section["epochs"]) as progress:
        model, history = train_classifier(kind, section, data, progress=progress)
    if history.diverged:
        raise RuntimeError(f"the chosen point {chosen} diverged in epoch "
                           f"{history.diverged_at_epoch} on retraining")
    seed = int(section["seed"])
    return tested_outputs(kind, section, chosen, model, history, data, seed_runs(
        kind, section, data, range(seed + 1, seed + int(section["final_seeds"])), workers))


def sweep_and_final_outputs(kind: str, section: Mapping, data: Prepared,
                            workers: int = 1) -> tuple[dict, bytes, str]:
    """The sweep and the final model in one pass, for a model too slow to train twice (the
    CNN): every grid point is trained in full with train and validation curves (over
    ``workers`` processes), the best on validation is chosen (selection_outputs' files), and
    that very model touches the TEST set once (final_outputs' files); the chosen point is
    also retrained with the seeds after its own (``final_seeds`` runs in all), as the final
    stage does, for the test accuracy's spread. Returns those files, the tested model's file
    (``model_file``) and a summary line."""
    points = grid_points(section["grid"])

    def run(point: dict) -> tuple[dict, bn.Module, bn.History]:
        with Progress(f"{kind} {point_name(point)}", section["epochs"]) as progress:
            model, history = train_classifier(kind, overlaid(section, point), data,
                                              progress=progress)
        return {"point": point, **history_record(history)}, model, history

    runs = fork_map(run, points, workers)
    records = [record for record, _, _ in runs]
    selection, _ = selection_outputs(section["grid"], records)
    _, model, history = runs[records.index(best_point(records))]
    chosen_section, chosen = with_chosen_point(section, selection["best.json"])
    seed = int(section["seed"])
    other_seeds = seed_runs(kind, chosen_section, data,
                            range(seed + 1, seed + int(section["final_seeds"])), workers)
    outputs, saved, summary = tested_outputs(kind, chosen_section, chosen, model, history, data,
                                             other_seeds)
    return ({**selection, **outputs}, saved,
            f"{point_name(chosen)} chosen on validation; {summary}")


def tested_outputs(kind: str, section: Mapping, chosen: dict, model: bn.Module,
                   history: bn.History, data: Prepared, other_seeds: list[dict]
                   ) -> tuple[dict, bytes, str]:
    """final_outputs' files for ``model``, trained with ``section`` (the ``chosen`` point in
    place) and now tested once, beside ``other_seeds``' scores (seed_runs); its model file."""
    test = bn.evaluate(model, data.x["test"], data.y["test"])  # the one look at the test set
    runs = [seed_scores(int(section["seed"]), model, history, test), *other_seeds]
    names = data.class_names
    order = np.argsort(test.per_class_accuracy, kind="stable")
    metrics = {
        "train": {"accuracy": history.train_accuracy[-1], "loss": history.train_loss[-1]},
        "val": {"accuracy": history.val_accuracy[-1], "loss": history.val_loss[-1],
                **accuracy_spread(runs, "val")},
        "test": {"accuracy": test.accuracy, "loss": test.loss, **accuracy_spread(runs, "test")},
        "seeds": {str(run["seed"]): run for run in runs},
        "best": chosen,
        # indices: a metric is a number (study.bars); info.json's class_names name them
        "best_class": int(order[-1]),
        "worst_class": int(order[0]),
        "epochs": section["epochs"],
    }
    epochs = range(1, len(history.train_loss) + 1)
    summary = (f"test accuracy {test.accuracy:.4f} loss {test.loss:.4f} (over {len(runs)} seeds "
               f"{metrics['test']['accuracy_mean']:.4f} +- {metrics['test']['accuracy_std']:.4f}); "
               f"best class {names[order[-1]]}, worst {names[order[0]]}")
    return {
        "metrics.json": metrics,
        "info.json": {"class_names": names, "preprocessing": data.preprocessing},
        "curves.csv": Table(["epoch", "train_loss", "val_loss", "train_accuracy",
                             "val_accuracy"],
                            zip(epochs, history.train_loss, history.val_loss,
                                history.train_accuracy, history.val_accuracy, strict=True)),
        "per_class.csv": per_class_table(names, test),
        "confusion.csv": Table(["actual", "predicted", "count"],
                               [(names[a], names[p], n)
                                for (a, p), n in np.ndenumerate(test.confusion)]),
        # per test image, in the test set's order: paired tests between classifiers (McNemar)
        "predictions.csv": Table(["actual", "predicted"], [
            (names[a], names[p]) for a, p in zip(data.y["test"], bn.train.predict_scores(
                model, data.x["test"]).argmax(axis=1), strict=True)]),
        "weights.png": weight_figure(kind, model, names),
        "mistakes.png": mistakes_figure(model, data),
    }, model_file(kind, section, model, data), summary


# --- the final models as files ---------------------------------------------------------------

def model_file(kind: str, section: Mapping, model: bn.Module, data: Prepared) -> bytes:
    """``model`` in barenet's model format, with the settings that rebuild it through
    ``build_model`` (``kind``, its config ``section`` as trained, the input and class counts)
    and what scoring it needs: the class names and the preprocessing of its inputs (the
    section's dtype, standardise and scale_pixels say how load_prepared makes them)."""
    plain = section.to_dict() if hasattr(section, "to_dict") else dict(section)
    return bn.model_bytes(model, {
        "kind": kind, "section": plain, "n_features": int(data.x["test"].shape[1]),
        "class_names": list(data.class_names), "preprocessing": data.preprocessing})


def load_classifier(path: str | Path, kind: str | None = None) -> tuple[bn.Module, dict]:
    """The model and settings of a final model's file (``model_file``), loaded by barenet;
    ``kind``, if given, is the classifier it must be. The settings must rebuild the very module
    tree the file holds (build_model), so a file whose settings and arrays disagree, or of
    another kind, fails here with one ModelFileError, as barenet fails a damaged file."""
    model, settings = bn.load_model(Path(path).read_bytes(), str(path))
    try:
        rebuilt = build_model(settings["kind"], settings["section"], settings["n_features"],
                              len(settings["class_names"]), np.random.default_rng(0))
    except (KeyError, TypeError, ValueError) as error:
        raise bn.ModelFileError(f"{path}: its settings do not rebuild a classifier ({error!r}); "
                                "expected a final model file of the study") from None
    if kind is not None and settings["kind"] != kind:
        raise bn.ModelFileError(f"{path}: a {settings['kind']} model; expected the {kind} "
                                "classifier's file")
    if describe(rebuilt) != describe(model):
        raise bn.ModelFileError(f"{path}: its settings build {describe(rebuilt)} but its "
                                f"arrays are of {describe(model)}; expected the two to agree")
    return model, settings


def per_class_table(names: list[str], test: bn.ClassMetrics) -> Table:
    """per_class.csv: per class, its test accuracy and loss, n (its test images) and the 95%
    Wilson interval of the accuracy (accuracy_low, accuracy_high; empty for a class with no
    test image), which the per-class accuracy plots draw."""
    rows = []
    for c, name in enumerate(names):
        n, correct = int(test.confusion[c].sum()), int(test.confusion[c, c])
        low, high = wilson_interval(correct, n) if n else (None, None)
        rows.append((name, test.per_class_accuracy[c], test.per_class_loss[c], n, low, high))
    return Table(["class", "accuracy", "loss", "n", "accuracy_low", "accuracy_high"], rows)


def seed_scores(seed: int, model: bn.Module, history: bn.History,
                test: bn.ClassMetrics) -> dict:
    """One final run's scores, the train split's and validation's after the last epoch."""
    return {"seed": seed, "train_accuracy": history.train_accuracy[-1],
            "val_accuracy": history.val_accuracy[-1], "test_accuracy": test.accuracy,
            "test_loss": test.loss}


def seed_runs(kind: str, section: Mapping, data: Prepared, seeds: Iterable[int],
              workers: int) -> list[dict]:
    """``seed_scores`` of the chosen point retrained with each of ``seeds`` (initial weights and
    batch order), in order, over ``workers`` processes (study.pool: the same bytes as one)."""
    def run(seed: int) -> dict:
        model, history = train_classifier(kind, overlaid(section, {"seed": seed}), data,
                                          train_curves=False)
        if history.diverged:
            raise RuntimeError(f"the chosen point diverged in epoch {history.diverged_at_epoch} "
                               f"with seed {seed}")
        return seed_scores(seed, model, history,
                           bn.evaluate(model, data.x["test"], data.y["test"]))

    return fork_map(run, seeds, workers)


def accuracy_spread(runs: list[dict], split: str) -> dict:
    """accuracy_mean and accuracy_std (sample standard deviation, ddof 1; 0 for one run) of the
    runs' ``<split>_accuracy``."""
    values = np.array([run[f"{split}_accuracy"] for run in runs], dtype=np.float64)
    return {"accuracy_mean": float(values.mean()),
            "accuracy_std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}


MISTAKES_SHOWN = 20


def mistakes_figure(model: bn.Module, data: Prepared):
    """The MISTAKES_SHOWN test images the model misclassifies with the highest probability,
    most confident first, each titled "true -> predicted (probability)", in pixels / 255."""
    from study.plots import image_grid  # only the final stages draw: sweep points skip matplotlib

    x, labels = data.x["test"], data.y["test"]
    probabilities = np.exp(bn.log_softmax(bn.train.predict_scores(model, x).astype(np.float64)))
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    shown = wrong[np.argsort(-confidence, kind="stable")[:MISTAKES_SHOWN]]
    if not len(shown):
        return image_grid(np.zeros((1, *IMAGE_SHAPE)), ["(none)"], ncols=1, cmap="gray_r",
                          suptitle="No test image is misclassified")
    pre = data.preprocessing
    images = (x[shown].astype(np.float64) * pre["std"] + pre["mean"]).reshape(-1, *IMAGE_SHAPE)
    names = data.class_names
    titles = [f"{names[labels[i]]} -> {names[predicted[i]]} ({probabilities[i, predicted[i]]:.3f})"
              for i in shown]
    return image_grid(images, titles, ncols=10, cmap="gray_r",
                      suptitle="The most confidently misclassified test images: true -> "
                               "predicted (predicted probability)")


def weight_figure(kind: str, model: bn.Module, names: list[str]):
    """The linear model's template per class, the MLP's first 20 hidden units' input weights,
    or the CNN's first-layer filters (red > 0 > blue, each image on its own symmetric
    scale)."""
    from study.plots import image_grid  # only the final stages draw: sweep points skip matplotlib

    if kind == "linear":
        images, titles = model.W.T, [f"class {n}" for n in names]
        title = "Learned weights W[:, c] of each class"
    elif kind == "mlp":
        images, titles = model[0].weight.data[:20], [f"unit {i}" for i in range(20)]
        title = "Input weights of the first 20 hidden units"
    else:
        images = model[1].weight.data[:, 0]
        titles, title = [f"filter {i}" for i in range(len(images))], "First-layer filters"
    if kind != "cnn":
        images = images.reshape(-1, *IMAGE_SHAPE)
    return image_grid(images, titles,
                      ncols=10 if len(titles) > 10 else 5, symmetric=True, cmap="RdBu_r",
                      suptitle=f"{title} (red > 0 > blue)")


def fraction_subset(n: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of round(n * fraction) rows (at least one) drawn without replacement."""
    return seeded_subset(n, max(1, round(n * fraction)), seed)


def equal_steps(section: Mapping, fraction: float) -> dict:
    """``section`` for a run on ``fraction`` of the training images that takes as many steps as
    the whole set's: 1/fraction times the epochs (rounded), the learning rate decayed by
    lr_decay ** fraction per epoch, so that the schedule per step is the same too."""
    return overlaid(section, {"epochs": max(1, round(int(section["epochs"]) / fraction)),
                              "lr_decay": float(section["lr_decay"]) ** fraction})


def fraction_outputs(kind: str, section: Mapping, best: Mapping, data: Prepared,
                     fractions: list[float], seeds: list[int], workers: int = 1
                     ) -> tuple[dict, str]:
    """The data-fraction bonus: retrain with the chosen point on a seeded subset of the train
    split at each of ``fractions``, with each of ``seeds`` (the subset's draw, the initial
    weights and the batch order), each run taking the whole set's number of steps
    (``equal_steps``), over ``workers`` processes; validated and tested once, at the end.
    fraction.csv: one row per run (a diverged run's accuracies empty); fraction.json: per
    fraction, the mean and sample standard deviation of the test and validation accuracies
    over the seeds that did not diverge (a fraction with none is left out: a metric is a
    number); and a summary line."""
    section, _ = with_chosen_point(section, best)
    runs = [(float(fraction), int(seed)) for fraction in fractions for seed in seeds]

    def run(fraction_seed: tuple[float, int]) -> dict:
        fraction, seed = fraction_seed
        rows = fraction_subset(len(data.y["train"]), fraction, seed)
        config = equal_steps(overlaid(section, {"seed": seed}), fraction)
        model, history = train_classifier(kind, config, data, subset=rows, train_curves=False,
                                          val_curves=False)
        test = None if history.diverged else bn.evaluate(model, data.x["test"], data.y["test"])
        return {"fraction": fraction, "seed": seed, "n_train": int(len(rows)),
                "epochs": int(config["epochs"]),
                "val_accuracy": history.val_accuracy[-1] if test else None,
                "test_accuracy": test.accuracy if test else None}

    def status(point: dict) -> str:
        accuracy = point["test_accuracy"]
        return (f"{point['fraction']} seed {point['seed']} ({point['n_train']} training images, "
                f"{point['epochs']} epochs): test accuracy "
                + ("diverged" if accuracy is None else f"{accuracy:.4f}"))

    with Progress(f"fraction@{kind}", len(runs), unit="run", max_lines=len(runs)) as progress:
        points = fork_map(run, runs, workers,
                          on_result=lambda i, point: progress.update(i, status(point)))
    summary = {}
    for fraction in dict.fromkeys(float(f) for f in fractions):
        done = [p for p in points if p["fraction"] == fraction and p["test_accuracy"] is not None]
        if done:
            summary[str(fraction)] = {split: accuracy_spread(done, split)
                                      for split in ("test", "val")}
    columns = ["fraction", "seed", "n_train", "epochs", "val_accuracy", "test_accuracy"]
    return {"fraction.json": summary,
            "fraction.csv": Table(columns, [tuple(p[c] for c in columns) for p in points])}, \
        ", ".join(status(p) for p in points)
