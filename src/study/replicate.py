"""Replication of the original attempt (/work/shared/assignment, the notebook export): its
recipes re-run with ITS maths, to show which of its printed numbers come back and why.

What the original did, and this module repeats (line numbers of the export):
- split: sklearn's ``train_test_split`` of the 60,000 training images, test_size 0.2,
  random_state 42 (l. 72-73); the lists it returns keep that order until shuffled;
- shuffling: ``np.random.shuffle`` of the list passed to ``train`` at every epoch, IN PLACE and
  unseeded (l. 85): training on ``mnist_trainset`` itself reorders it for every later cell, and
  a later ``mnist_trainset[:N]`` is the first N of that shuffled list (a copy, whose own
  shuffles go nowhere);
- linear classifier: scores W.T @ x on raw 0-255 pixels, no bias (l. 115-130); W ~ N(0, 1e-5^2)
  (l. 101-104); per image the gradient outer(x, softmax - onehot) + 2 lambda W, summed over the
  batch of 64 and applied once, W -= lr * sum (l. 236-248, 111-113): the data gradient is a
  batch SUM and the L2 gradient is added once per image; train() defaults lr 1e-3, lambda 1,
  10 epochs (l. 206);
- its lr x lambda sweep: ONE model, never re-initialised, through all 12 points, 5 epochs each,
  on ``mini_train_set`` (l. 314-335; not defined in the linear section: see sweep_size_fit);
- the MLP: x / 255 inside forward; Linear weights N(0, 1e-3^2), zero bias; hidden 100; the loss
  is the batch mean but its backward is NOT divided by the batch size, so every parameter
  gradient is a batch SUM; plain SGD lr 0.01, batch 64, 10 epochs (l. 835-935, 1114-1117).

Every run draws its initialisation and its shuffles from its own ``np.random.Generator`` built
from (seed, run kind), so the results are the same bytes however the runs are shared out. The
randomness the original left unseeded is replaced by each of the configured seeds.
"""

from __future__ import annotations

import math
import time
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

import barenet as bn
from study.io import Table
from study.pool import fork_map
from study.threads import one_thread

N_CLASSES = 10
EVAL_CHUNK = 5000  # images scored at once: bounds the (chunk, 784) float64 temporaries


@dataclass(frozen=True)
class RawMnist:
    """The official MNIST files as the original read them: images flattened to (N, 784) in the
    configured float dtype (raw 0-255 values, no scaling) and int64 labels (N,). ``train`` holds
    all 60,000 official training images in file order; the original's lists are index arrays
    into it."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], dtype: str) -> RawMnist:
        """From study.data.load_dataset's uint8 (N, 28, 28) images and labels."""
        def flat(x):
            return np.asarray(x).reshape(len(x), -1).astype(dtype)

        return cls(flat(arrays["x_train"]), np.asarray(arrays["y_train"], np.int64),
                   flat(arrays["x_test"]), np.asarray(arrays["y_test"], np.int64))


def original_split(n: int, test_size: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices into the official training set, in the order the original's lists
    had them: sklearn's ``train_test_split`` of the data set, itself (l. 72-73)."""
    from sklearn.model_selection import train_test_split

    train, val = train_test_split(np.arange(n), test_size=test_size, random_state=random_state)
    return np.asarray(train), np.asarray(val)


def run_rng(seed: int, kind: str) -> np.random.Generator:
    """The Generator of one run: seeded by (seed, a stable hash of the run's kind), so a run's
    draws do not depend on which other runs exist or where they execute."""
    return np.random.default_rng([int(seed), zlib.crc32(kind.encode())])


def shuffle_in_place(order: np.ndarray, rng: np.random.Generator) -> None:
    """np.random.shuffle(training_set) of get_minibatch (l. 85): the list the caller passed is
    reordered in place, so a caller passing its own list sees it shuffled afterwards."""
    order[:] = order[rng.permutation(len(order))]


def first_n(order: np.ndarray, n: int) -> np.ndarray:
    """``training_list[:n]``: a COPY of the first n of the list in its current (possibly
    shuffled) order; training on it shuffles the copy, never the list."""
    return order[:n].copy()


def batches(order: np.ndarray, batch_size: int):
    """get_minibatch's slices (l. 82-88): consecutive batch_size runs, the last one short."""
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


# ---------------------------------------------------------------- the linear classifier


def linear_init(rng: np.random.Generator, std: float, n_features: int, dtype) -> np.ndarray:
    """W (n_features, 10) ~ N(0, std^2), the original's Single_layer_classifier (l. 100)."""
    return rng.normal(0.0, std, (n_features, N_CLASSES)).astype(dtype)


def softmax_minus_onehot(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(B, 10) d(per-image loss)/d(scores) = softmax(scores) - onehot(labels), computed as the
    original's loss_backward (l. 165-182): shifted by the row max, exp over its sum."""
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    grad = shifted / shifted.sum(axis=1, keepdims=True)
    grad[np.arange(len(labels)), labels] -= 1
    return grad


def linear_step(W: np.ndarray, x: np.ndarray, y: np.ndarray, lr: float, lam: float) -> None:
    """One of the original's updates, in place, for a batch x (B, 784) raw, y (B,): the SUM over
    the batch of outer(x_i, softmax_i - onehot_i) + 2 lam W, times lr (l. 236-248, 111-113)."""
    grad = x.T @ softmax_minus_onehot(x @ W, y)
    grad += len(y) * 2.0 * lam * W  # the L2 gradient, added once per image of the batch
    W -= grad * lr


def linear_train(W: np.ndarray, data: RawMnist, order: np.ndarray, epochs: int, batch_size: int,
                 lr: float, lam: float, rng: np.random.Generator) -> None:
    """The original's train() (l. 206-270) on the images ``order`` indexes (shuffled IN PLACE at
    every epoch, as the original's list), updating W in place."""
    for _ in range(epochs):
        shuffle_in_place(order, rng)
        for idx in batches(order, batch_size):
            linear_step(W, data.x_train[idx], data.y_train[idx], lr, lam)


def scores_of(score: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """(N, 10) scores of x (N, 784), EVAL_CHUNK images at a time."""
    return np.concatenate([score(x[i:i + EVAL_CHUNK]) for i in range(0, len(x), EVAL_CHUNK)])


def score_summary(scores: np.ndarray, y: np.ndarray) -> dict:
    """What test_loss_and_accuracy printed (mean per-image softmax loss, accuracy; l. 186-204),
    per-class accuracy, and what tells a saturated model: the share of images given the single
    most-predicted class, the mean and max |score|, and the share of non-finite scores."""
    with np.errstate(all="ignore"):
        finite = np.isfinite(scores).all(axis=1)
        pred = scores.argmax(axis=1)
        logp = bn.log_softmax(scores)
        loss = -logp[np.arange(len(y)), y]
    counts = np.bincount(pred, minlength=N_CLASSES)
    per_class = [float(np.mean(pred[y == c] == c)) if np.any(y == c) else math.nan
                 for c in range(N_CLASSES)]
    return {
        "accuracy": float(np.mean(pred == y)),
        "loss": float(np.mean(loss)),
        "per_class_accuracy": per_class,
        "best_class": int(np.nanargmax(per_class)),
        "worst_class": int(np.nanargmin(per_class)),
        "top_class": int(counts.argmax()),
        "top_class_share": float(counts.max() / len(y)),
        "mean_abs_score": float(np.mean(np.abs(scores[finite]))) if finite.any() else math.nan,
        "max_abs_score": float(np.max(np.abs(scores[finite]))) if finite.any() else math.nan,
        "nonfinite_share": float(1.0 - finite.mean()),
    }


def linear_scores(W: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict:
    return score_summary(scores_of(lambda xb: xb @ W, x), y)


def zero_gradient_share(W: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Share of the images whose data gradient is exactly 0 in floating point (softmax one-hot
    on the true class): they cannot move W any more; only the L2 term does."""
    grad = softmax_minus_onehot(x @ W, y)
    return float(np.mean(np.all(grad == 0, axis=1)))


def sweep_points(sweep: Mapping) -> list[tuple[float, float]]:
    """(lr, lambda) in the original's loop order: lr outer, lambda inner (l. 326-327)."""
    return [(float(lr), float(lam)) for lr in sweep["lrs"] for lam in sweep["lambdas"]]


def chained_sweep(W: np.ndarray, data: RawMnist, mini: np.ndarray, val: np.ndarray,
                  sweep: Mapping, batch_size: int, rng: np.random.Generator) -> list[dict]:
    """The original's sweep: one model (W, updated in place) trained through every point in
    turn, never re-initialised, on the ``mini`` images; per point its validation scores and
    what explains them (zero-gradient share of the training images, the size of W)."""
    records = []
    for lr, lam in sweep_points(sweep):
        linear_train(W, data, mini, int(sweep["epochs"]), batch_size, lr, lam, rng)
        xv, yv = data.x_train[val], data.y_train[val]
        record = {"lr": lr, "lambda": lam, **linear_scores(W, xv, yv)}
        record["train_accuracy"] = linear_scores(W, data.x_train[mini],
                                                 data.y_train[mini])["accuracy"]
        record["train_zero_gradient_share"] = zero_gradient_share(
            W, data.x_train[mini], data.y_train[mini])
        record["weight_norm"] = float(np.linalg.norm(W))
        records.append(record)
    return records


def shrink_only_ratio(n_images: int, batch_size: int, epochs: int, lr: float, lam: float) -> float:
    """The factor W (and so the validation loss of a saturated model, which is homogeneous of
    degree one in W) shrinks by over ``epochs`` epochs on n_images when the data gradient is 0:
    each batch of b images multiplies W by (1 - lr * 2 lam b)."""
    sizes = [min(batch_size, n_images - s) for s in range(0, n_images, batch_size)]
    return float(np.prod([1.0 - lr * 2.0 * lam * b for b in sizes]) ** epochs)


def sweep_size_fit(printed_losses: Sequence[float], sweep: Mapping, batch_size: int,
                   sizes: Sequence[int]) -> dict:
    """Which size of ``mini_train_set`` the original's printed validation losses imply: at each
    point after the second with lambda > 0 the model only shrank (its lambda = 0 neighbours
    print the same loss), so loss[k] / loss[k-1] must equal shrink_only_ratio. Returns per
    candidate size the largest |log(printed ratio / predicted ratio)|."""
    points = sweep_points(sweep)
    fit = {}
    for n in sizes:
        epochs = int(sweep["epochs"])
        errors = [abs(math.log(printed_losses[k] / printed_losses[k - 1])
                      - math.log(shrink_only_ratio(n, batch_size, epochs, *points[k])))
                  for k in range(2, len(points)) if points[k][1] > 0]
        fit[str(n)] = max(errors)
    return fit


def linear_notebook(seed: int, data: RawMnist, split: tuple[np.ndarray, np.ndarray],
                    lin: Mapping, sweep_size: int) -> dict:
    """The original's linear cells in their order, for one seed, with the sweep on the first
    ``sweep_size`` images of the training list. Returns every candidate's scores, the sweep's
    records, and the data-fraction runs."""
    train_list, val = split[0].copy(), split[1]
    dtype = data.x_train.dtype
    n_features = data.x_train.shape[1]
    bs = int(lin["batch_size"])
    std = float(lin["init_std"])
    d = lin["defaults"]
    xv, yv = data.x_train[val], data.y_train[val]

    def scored(W):
        tr = train_list
        return {"train": linear_scores(W, data.x_train[tr], data.y_train[tr]),
                "val": linear_scores(W, xv, yv), "test": linear_scores(W, data.x_test, data.y_test)}

    out: dict = {"seed": seed}
    # the lost "Training" cell (l. 309 prints its validation score): assumed train()'s
    # defaults on mnist_trainset, which shuffles the list in place for every later cell
    rng = run_rng(seed, "linear/training_cell")
    W_cell = linear_init(rng, std, n_features, dtype)
    linear_train(W_cell, data, train_list, int(d["epochs"]), bs, float(d["lr"]),
                 float(d["lambda"]), rng)
    out["training_cell"] = scored(W_cell)
    # the sweep: one fresh model through all 12 points on the first sweep_size images
    rng = run_rng(seed, f"linear/sweep/{sweep_size}")
    W_sweep = linear_init(rng, std, n_features, dtype)
    out["sweep"] = chained_sweep(W_sweep, data, first_n(train_list, sweep_size), val,
                                 lin["sweep"], bs, rng)
    out["candidates"] = {"swept_model_as_is": scored(W_sweep)}
    # the lost final-training cell: candidates for the model that printed 85.08%
    for name, cand in lin["candidates"].items():
        rng = run_rng(seed, f"linear/candidate/{name}")
        W = W_sweep.copy() if cand["start"] == "swept" else linear_init(rng, std, n_features,
                                                                      dtype)
        # the candidate named final_recipe trains on the list itself (its in-place shuffles
        # reach the fraction cell); the others on a copy. Each shuffle is a uniform
        # permutation, so which one it is does not change the fraction cell's subsets' law.
        order = train_list if name == lin["final_recipe"] else train_list.copy()
        linear_train(W, data, order, int(cand["epochs"]), bs, float(cand["lr"]),
                     float(cand["lambda"]), rng)
        out["candidates"][name] = scored(W)
    # the bonus: the first N of the (now shuffled) list, a fresh model each (l. 564-580)
    f = lin["fractions"]
    out["fractions"] = []
    for share in f["shares"]:
        rng = run_rng(seed, f"linear/fraction/{share}")
        W = linear_init(rng, std, n_features, dtype)
        linear_train(W, data, first_n(train_list, int(len(train_list) * share)),
                     int(f["epochs"]), bs, float(f["lr"]), float(f["lambda"]), rng)
        out["fractions"].append({"share": float(share),
                                 "test": linear_scores(W, data.x_test, data.y_test)})
    return out


def linear_sweep_only(seed: int, data: RawMnist, split: tuple[np.ndarray, np.ndarray],
                      lin: Mapping, sweep_size: int) -> list[dict]:
    """The chained sweep alone, on the first ``sweep_size`` images of the split's order (for
    the other candidate sizes of mini_train_set)."""
    rng = run_rng(seed, f"linear/sweep/{sweep_size}")
    W = linear_init(rng, float(lin["init_std"]), data.x_train.shape[1], data.x_train.dtype)
    order = split[0].copy()
    shuffle_in_place(order, rng)  # the list had been shuffled by the training cell before
    return chained_sweep(W, data, first_n(order, sweep_size), split[1], lin["sweep"],
                         int(lin["batch_size"]), rng)


# ---------------------------------------------------------------- the MLP


def mlp_init(rng: np.random.Generator, n_features: int, hidden: int, std: float,
             dtype) -> bn.Sequential:
    """The original's MLP (l. 835-900): Linear(784, hidden) -> ReLU -> Linear(hidden, 10),
    weights N(0, std^2) drawn as (in, out) like its np.random.normal(0, SIGMA, (in, out)) and
    stored transposed in barenet's (out, in), biases zero."""
    model = bn.MLP(n_features, hidden, N_CLASSES, rng=np.random.default_rng(0), dtype=dtype)
    for layer in (model[0], model[2]):
        layer.weight.data = np.ascontiguousarray(
            rng.normal(0.0, std, (layer.in_features, layer.out_features)).T.astype(dtype))
        layer.bias.data = np.zeros(layer.out_features, dtype)
    return model


def mlp_step(model: bn.Sequential, optimizer: bn.SGD, x: np.ndarray, y: np.ndarray,
             scale: float) -> np.ndarray:
    """One of the original's updates for a batch x (B, 784) raw, y (B,): forward on x / scale,
    softmax - onehot NOT divided by B (its Softmax_loss.backward), so every parameter gets the
    batch SUM of per-image gradients; then p -= lr * grad. Returns the batch's scores."""
    scores = model.forward(x / scale)
    optimizer.zero_grad()
    model.backward(softmax_minus_onehot(scores, y), need_input_grad=False)
    optimizer.step()
    return scores


def mlp_train(model: bn.Sequential, data: RawMnist, order: np.ndarray, epochs: int,
              batch_size: int, lr: float, scale: float, rng: np.random.Generator) -> list[float]:
    """The original's MLP train() (l. 950-1010), shuffling ``order`` in place at every epoch;
    returns its printed running training accuracy per epoch (scores before each update)."""
    optimizer = bn.SGD(model.parameters(), lr=lr)
    running = []
    with np.errstate(all="ignore"):  # the unscaled runs overflow, as the original's did
        for _ in range(epochs):
            shuffle_in_place(order, rng)
            correct = 0
            for idx in batches(order, batch_size):
                scores = mlp_step(model, optimizer, data.x_train[idx], data.y_train[idx], scale)
                correct += int(np.sum(scores.argmax(axis=1) == data.y_train[idx]))
            running.append(correct / len(order))
    return running


def mlp_scores(model: bn.Sequential, x: np.ndarray, y: np.ndarray, scale: float) -> dict:
    """score_summary of the MLP on x / scale, plus the share of hidden units dead on all of x
    (never positive: no gradient reaches their weights)."""
    with np.errstate(all="ignore"):
        hidden = scores_of(lambda xb: model[0].forward(xb / scale), x)
        scores = scores_of(lambda h: model[2].forward(np.maximum(h, 0)), hidden)
    summary = score_summary(scores, y)
    summary["dead_unit_share"] = float(np.mean(~np.any(hidden > 0, axis=0)))
    return summary


def mlp_run(seed: int, kind: str, data: RawMnist, order: np.ndarray, mlp: Mapping,
            batch_size: int, scale: float, epochs: int, lr: float | None = None) -> dict:
    """A fresh MLP trained on ``order`` (shuffled in place) and scored on the test set; ``lr``
    None: the recipe's."""
    rng = run_rng(seed, f"mlp/{kind}")
    model = mlp_init(rng, data.x_train.shape[1], int(mlp["hidden"]), float(mlp["init_std"]),
                     data.x_train.dtype)
    lr = float(mlp["lr"]) if lr is None else lr
    running = mlp_train(model, data, order, epochs, batch_size, lr, scale, rng)
    return {"running_train_accuracy": running,
            "test": mlp_scores(model, data.x_test, data.y_test, scale)}


def mlp_notebook(seed: int, data: RawMnist, split: tuple[np.ndarray, np.ndarray],
                 mlp: Mapping) -> dict:
    """The original's MLP cells that printed numbers, for one seed: the final model (lr 0.01,
    batch 64, 10 epochs, x / 255) and the data fractions (the first N of the training list,
    which every earlier train() call had shuffled in place)."""
    train_list = split[0].copy()
    # the linear cells and the MLP's training, sweep and final cells all shuffled the list in
    # place before the fraction cell: a uniform permutation, drawn once
    shuffle_in_place(train_list, run_rng(seed, "mlp/list_state"))
    bs, epochs = int(mlp["batch_size"]), int(mlp["epochs"])
    out = {"seed": seed,
           "final": mlp_run(seed, "final", data, train_list.copy(), mlp, bs, 255.0, epochs)}
    out["fractions"] = [
        {"share": float(share), **mlp_run(seed, f"fraction/{share}", data,
                                          first_n(train_list, int(len(train_list) * share)),
                                          mlp, bs, 255.0, epochs)}
        for share in mlp["fractions"]["shares"]]
    return out


def mlp_observation(seed: int, data: RawMnist, split: tuple[np.ndarray, np.ndarray],
                    mlp: Mapping, name: str, obs: Mapping) -> dict:
    """One of the original's observations re-run: its recipe with the batch size, the pixel
    scale, the epochs and (if given) the learning rate the observation's settings give."""
    lr = float(obs.get("lr", mlp["lr"]))
    return {"seed": seed, "name": name, "batch_size": int(obs["batch_size"]),
            "scale": float(obs["scale"]), "lr": lr,
            **mlp_run(seed, f"observation/{name}", data, split[0].copy(), mlp,
                      int(obs["batch_size"]), float(obs["scale"]), int(obs["epochs"]), lr)}


# ---------------------------------------------------------------- scikit-learn


def sklearn_run(data: RawMnist, split: tuple[np.ndarray, np.ndarray]) -> dict:
    """OneVsRestClassifier(LogisticRegression()) with every default (C=1, intercept, lbfgs,
    100 iterations) on pixels / 255, float64, as the original (l. 480-500); one fit."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    def x(rows):
        return rows.astype(np.float64) / 255

    start = time.perf_counter()
    clf = OneVsRestClassifier(LogisticRegression())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(x(data.x_train[split[0]]), data.y_train[split[0]])
    seconds = time.perf_counter() - start
    acc = {"train": float(clf.score(x(data.x_train[split[0]]), data.y_train[split[0]])),
           "val": float(clf.score(x(data.x_train[split[1]]), data.y_train[split[1]])),
           "test": float(clf.score(x(data.x_test), data.y_test))}
    return {"accuracy": acc, "fit_seconds": seconds,
            "converged": int(not any(issubclass(w.category, ConvergenceWarning)
                                     for w in caught)),
            "iterations_max": int(max(e.n_iter_.max() for e in clf.estimators_))}


# ---------------------------------------------------------------- the whole replication


def _task(item: tuple, data: RawMnist, split, cfg: Mapping) -> tuple:
    kind, *args = item
    with one_thread():
        if kind == "sklearn":
            return item, sklearn_run(data, split)
        if kind == "linear":
            return item, linear_notebook(args[0], data, split, cfg["linear"],
                                         int(cfg["linear"]["sweep"]["size"]))
        if kind == "linear_sweep":
            return item, linear_sweep_only(args[0], data, split, cfg["linear"], args[1])
        if kind == "mlp":
            return item, mlp_notebook(args[0], data, split, cfg["mlp"])
        name = args[1]
        return item, mlp_observation(args[0], data, split, cfg["mlp"], name,
                                     cfg["mlp"]["observations"][name])


def tasks(cfg: Mapping) -> list[tuple]:
    """Every independent run, the longest first so the two cores finish together."""
    seeds = [int(s) for s in cfg["seeds"]]
    items: list[tuple] = [("sklearn",)] if cfg["sklearn"]["run"] else []
    items += [("mlp", s) for s in seeds]
    items += [("mlp_observation", s, name) for name in cfg["mlp"]["observations"]
              for s in seeds]
    items += [("linear", s) for s in seeds]
    items += [("linear_sweep", s, int(n)) for n in cfg["linear"]["sweep"]["other_sizes"]
              for s in seeds]
    return items


def run_all(data: RawMnist, cfg: Mapping, workers: int) -> dict:
    """Every run of the replication (fork_map over ``workers`` processes): {item: result}."""
    split = original_split(len(data.y_train), float(cfg["split"]["test_size"]),
                           int(cfg["split"]["random_state"]))
    items = tasks(cfg)
    results = fork_map(lambda item: _task(item, data, split, cfg), items, workers)
    return dict(results)


def printed_precision(value: float) -> int:
    """Decimals the original printed ``value`` with (85.08 -> 2, 92 -> 0)."""
    text = repr(float(value)).rstrip("0").rstrip(".")
    return len(text.split(".")[1]) if "." in text else 0


def number_row(quantity: str, original: float, values: Sequence[float], note: str,
               decimals: int | None = None) -> list:
    """A replication.csv row: reproduced = 1 when the original's value lies in the seeds'
    [min, max] once both ends are rounded to the precision the original printed it with."""
    v = np.asarray(values, dtype=float)
    d = printed_precision(original) if decimals is None else decimals
    lo, hi = round(float(v.min()), d), round(float(v.max()), d)
    reproduced = int(lo <= original <= hi)
    sd = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return [quantity, original, float(v.mean()), sd, float(v.min()), float(v.max()), reproduced,
            note]


def class_row(quantity: str, original: int, classes: Sequence[int], note: str) -> list:
    """A class row: mean = share of seeds giving the original's class (min/max: the classes the
    seeds gave); reproduced = 1 when at least one seed gives it."""
    share = float(np.mean([c == original for c in classes]))
    counts = np.bincount(classes, minlength=N_CLASSES)
    return [quantity, original, share, math.nan, int(min(classes)), int(max(classes)),
            int(share > 0), f"{note}; classes over seeds {list(map(int, classes))}, modal "
            f"{int(counts.argmax())}"]


REPLICATION_HEADER = ["quantity", "original", "mean", "sd", "min", "max", "reproduced", "note"]
FINAL_LOSS_DECIMALS = -2  # the lost final cell's test loss (about 1,000): judged to the hundreds


def prints_as_original(run: Mapping, orig: Mapping) -> bool:
    """Whether one seed's run of a candidate for the lost final cell prints every number the
    original's one run printed there: train, validation and test accuracy as its %.2g, and the
    test loss to the hundreds."""
    split = f"{float(orig['linear_split_accuracy']):.2g}"
    return (all(f"{run[s]['accuracy']:.2g}" == split for s in ("train", "val", "test"))
            and round(run["test"]["loss"], FINAL_LOSS_DECIMALS)
            == round(float(orig["linear_test_loss"]), FINAL_LOSS_DECIMALS))


def replication_outputs(data: RawMnist, cfg: Mapping, report_original: Mapping,
                        workers: int = 1) -> tuple[dict, str]:
    """Run the whole replication and tabulate it. ``cfg`` is conf/replicate, ``report_original``
    conf/report's ``original`` block (the numbers already stated there). Returns ({file name:
    Table or json-able}, a one-line summary)."""
    start = time.perf_counter()
    results = run_all(data, cfg, workers)
    seeds = [int(s) for s in cfg["seeds"]]
    orig = cfg["original"]
    lin, mlp = cfg["linear"], cfg["mlp"]
    linear = [results[("linear", s)] for s in seeds]
    notebooks = [results[("mlp", s)] for s in seeds]
    pct = 100.0
    rows: list[list] = []
    # the sweep
    sweep_n = int(lin["sweep"]["size"])
    points = sweep_points(lin["sweep"])
    size_fit = sweep_size_fit(orig["linear_sweep_val_loss"], lin["sweep"], int(lin["batch_size"]),
                              [sweep_n, *lin["sweep"]["other_sizes"]])
    other = {int(n): [results[("linear_sweep", s, int(n))] for s in seeds]
             for n in lin["sweep"]["other_sizes"]}
    for k, (lr, lam) in enumerate(points):
        printed = float(orig["linear_sweep_val_accuracy"][k])
        others = "; ".join(
            f"with {n} images: {pct * np.mean([r[k]['accuracy'] for r in recs]):.2f} mean"
            for n, recs in other.items())
        rows.append(number_row(f"linear sweep point {k} (lr {lr:g}, lambda {lam:g}) val acc %",
                               printed, [pct * r["sweep"][k]["accuracy"] for r in linear],
                               f"one model chained through the 12 points on the first "
                               f"{sweep_n} images of the shuffled list; {others}"))
    for k in (0, len(points) - 1):
        printed = float(orig["linear_sweep_val_loss"][k])
        rows.append(number_row(f"linear sweep point {k} val loss", printed,
                               [r["sweep"][k]["loss"] for r in linear],
                               "mean per-image softmax loss on raw-pixel scores",
                               decimals=-3 if printed > 1e5 else -2))
    # the final model: every candidate for 85.08% and its train/val/test 0.85
    final_name = lin["final_recipe"]
    for name in ["swept_model_as_is", *lin["candidates"]]:
        c = [r["candidates"][name] for r in linear]
        tag = "the recipe that gives 85.08%" if name == final_name else "candidate"
        desc = lin["candidates"][name]["about"] if name in lin["candidates"] else \
            "the swept model tested directly (the text's code cell tests `model`)"
        losses = [x["test"]["loss"] for x in c]
        rows.append(number_row(f"linear test acc % [{name}]",
                               float(report_original["linear_test_accuracy"]),
                               [pct * x["test"]["accuracy"] for x in c],
                               f"{tag}: {desc}; its test loss {np.mean(losses):.0f} mean "
                               f"({min(losses):.0f}-{max(losses):.0f}), original "
                               f"{orig['linear_test_loss']:.0f}"))
        if name == final_name:
            for split_name in ("train", "val", "test"):
                rows.append(number_row(f"linear {split_name} acc (%.2g) [{name}]",
                                       float(orig["linear_split_accuracy"]),
                                       [x[split_name]["accuracy"] for x in c],
                                       f"{tag}: printed with %.2g"))
            rows.append(number_row(f"linear test loss [{name}]", float(orig["linear_test_loss"]),
                                   [x["test"]["loss"] for x in c],
                                   f"{tag}: mean per-image loss on raw-pixel scores",
                                   decimals=FINAL_LOSS_DECIMALS))
            rows.append(class_row(f"linear best class [{name}]",
                                  int(report_original["linear_best_class"]),
                                  [x["test"]["best_class"] for x in c], tag))
            rows.append(class_row(f"linear worst class [{name}]",
                                  int(report_original["linear_worst_class"]),
                                  [x["test"]["worst_class"] for x in c], tag))
    cell = [r["training_cell"]["val"] for r in linear]
    rows.append(number_row("linear lost 'Training' cell val acc %",
                           float(orig["linear_training_cell_val_accuracy"]),
                           [pct * x["accuracy"] for x in cell],
                           "assumed train() defaults from a fresh model (the cell is lost)"))
    rows.append(number_row("linear lost 'Training' cell val loss",
                           float(orig["linear_training_cell_val_loss"]),
                           [x["loss"] for x in cell],
                           "the same runs: mean per-image loss on raw-pixel scores"))
    shares = list(report_original["fraction_shares"])
    for i, share in enumerate(shares):
        rows.append(number_row(f"linear fraction {share}% test acc %",
                               float(report_original["linear_fraction_accuracy"][i]),
                               [pct * r["fractions"][i]["test"]["accuracy"] for r in linear],
                               f"first {share}% of the in-place shuffled list, fresh model, "
                               f"{lin['fractions']['epochs']} epochs, lr {lin['fractions']['lr']}"
                               f", lambda {lin['fractions']['lambda']}"))
    # the MLP
    rows.append(number_row("MLP test acc %", float(report_original["mlp_test_accuracy"]),
                           [pct * r["final"]["test"]["accuracy"] for r in notebooks],
                           "fresh MLP, x/255, N(0,1e-3^2), summed gradients, SGD lr 0.01, "
                           "batch 64, 10 epochs"))
    rows.append(number_row("MLP test loss", float(orig["mlp_test_loss"]),
                           [r["final"]["test"]["loss"] for r in notebooks],
                           "the same runs: mean per-image loss (the original printed the mean "
                           "of its batches' means)", decimals=4))
    for end in ("best", "worst"):
        rows.append(class_row(f"MLP {end} class", int(report_original[f"mlp_{end}_class"]),
                              [r["final"]["test"][f"{end}_class"] for r in notebooks],
                              "the recipe's MLP"))
    for i, share in enumerate(shares):
        rows.append(number_row(f"MLP fraction {share}% test acc %",
                               float(report_original["mlp_fraction_accuracy"][i]),
                               [pct * r["fractions"][i]["test"]["accuracy"] for r in notebooks],
                               f"first {share}% of the in-place shuffled list, the final recipe"))
    if cfg["sklearn"]["run"]:
        sk = results[("sklearn",)]
        rows.append(number_row("sklearn OvR LogisticRegression test acc (%.2g)",
                               float(report_original["sklearn_test_accuracy"]) / 100,
                               [sk["accuracy"]["test"]], "one deterministic fit (C=1, "
                               "intercept, lbfgs, pixels/255, float64)",
                               decimals=2))
        for split_name in ("train", "val"):
            rows.append(number_row(f"sklearn {split_name} acc (%.2g)",
                                   float(orig[f"sklearn_{split_name}_accuracy"]),
                                   [sk["accuracy"][split_name]], "the same fit", decimals=2))

    outputs = {"replication.csv": Table(REPLICATION_HEADER, rows)}
    outputs["sweep.csv"] = sweep_table(linear, points)
    outputs["candidates.csv"] = candidates_table(linear, ["swept_model_as_is", *lin["candidates"]])
    observations = {name: [results[("mlp_observation", s, name)] for s in seeds]
                    for name in mlp["observations"]}
    outputs["mlp_observations.csv"] = observations_table(observations, notebooks)
    for model, runs in (("linear", linear), ("mlp", notebooks)):
        outputs[f"{model}_fraction.csv"] = fraction_table(
            runs, shares, report_original[f"{model}_fraction_accuracy"])
    outputs["metrics.json"] = metrics(rows, linear, notebooks, observations, size_fit, points,
                                      results.get(("sklearn",)), orig)
    wall = time.perf_counter() - start
    n_rep = sum(r[6] for r in rows)
    fit = (f"sklearn fit {results[('sklearn',)]['fit_seconds']:.0f} s; "
           if cfg["sklearn"]["run"] else "")
    chosen = pct * np.mean([r["candidates"][final_name]["test"]["accuracy"] for r in linear])
    summary = (f"{n_rep} of {len(rows)} original numbers reproduced; {final_name} gives "
               f"{chosen:.2f}% "
               f"linear test (original {report_original['linear_test_accuracy']}); "
               f"{fit}{wall:.0f} s wall")
    return outputs, summary


def sweep_table(linear: list[dict], points) -> Table:
    """Per sweep point, mean over seeds of what explains the stuck accuracy."""
    keys = ["accuracy", "loss", "top_class_share", "mean_abs_score", "max_abs_score",
            "train_accuracy", "train_zero_gradient_share", "weight_norm"]
    rows = []
    for k, (lr, lam) in enumerate(points):
        recs = [r["sweep"][k] for r in linear]
        same = np.mean([r["sweep"][k]["accuracy"] == r["sweep"][k - 1]["accuracy"]
                        for r in linear]) if k else 0.0
        rows.append([k, lr, lam, *[float(np.mean([x[key] for x in recs])) for key in keys],
                     float(same)])
    return Table(["point", "lr", "lambda", "val_accuracy", "val_loss", "val_top_class_share",
                  "val_mean_abs_score", "val_max_abs_score", "train_accuracy",
                  "train_zero_gradient_share", "weight_norm", "seeds_same_val_acc_as_previous"],
                 rows)


def candidates_table(linear: list[dict], names: Sequence[str]) -> Table:
    rows = []
    for name in names:
        for r in linear:
            c = r["candidates"][name]
            rows.append([name, r["seed"], c["train"]["accuracy"], c["val"]["accuracy"],
                         c["test"]["accuracy"], c["test"]["loss"], c["test"]["best_class"],
                         c["test"]["worst_class"], c["test"]["top_class_share"],
                         c["test"]["mean_abs_score"]])
    return Table(["candidate", "seed", "train_accuracy", "val_accuracy", "test_accuracy",
                  "test_loss", "best_class", "worst_class", "test_top_class_share",
                  "test_mean_abs_score"], rows)


def fraction_table(runs: list[dict], shares: Sequence[int],
                   reported: Sequence[float]) -> Table:
    """Per share and seed, the re-run's test accuracy beside the original's printed one (the
    same on every seed's row), both as fractions: what the study's fraction plots overlay on
    its own (.dvc/plots/fraction.json)."""
    rows = [[share / 100, r["seed"], r["fractions"][i]["test"]["accuracy"], reported[i] / 100]
            for i, share in enumerate(shares) for r in runs]
    return Table(["fraction", "seed", "rerun_test_accuracy", "reported_test_accuracy"], rows)


def observations_table(observations: Mapping[str, list[dict]], notebooks: list[dict]) -> Table:
    rows = []
    runs = {"recipe": [{"seed": r["seed"], "batch_size": 64, "scale": 255.0, "lr": 0.01,
                        **r["final"]} for r in notebooks], **observations}
    for name, recs in runs.items():
        for r in recs:
            t = r["test"]
            rows.append([name, r["seed"], r["batch_size"], r["scale"], r["lr"],
                         len(r["running_train_accuracy"]),
                         max(r["running_train_accuracy"]), r["running_train_accuracy"][-1],
                         t["accuracy"], t["top_class"], t["top_class_share"],
                         t["dead_unit_share"], t["nonfinite_share"], t["mean_abs_score"]])
    return Table(["run", "seed", "batch_size", "pixel_scale", "lr", "epochs",
                  "max_running_train_accuracy",
                  "last_running_train_accuracy", "test_accuracy", "test_top_class",
                  "test_top_class_share", "dead_hidden_unit_share", "nonfinite_score_share",
                  "test_mean_abs_score"], rows)


def _mean(values) -> float:
    return float(np.mean(values))


def metrics(rows, linear, notebooks, observations, size_fit, points, sk, orig) -> dict:
    """metrics.json: numbers only (DVC metrics), a list as a mapping from its index (a sweep
    point, a share's position) so that `dvc metrics diff` compares each."""
    final = {name: {s: _mean([r["candidates"][name][s]["accuracy"] for r in linear])
                    for s in ("train", "val", "test")}
             for name in linear[0]["candidates"]}
    out = {
        "reproduced": int(sum(r[6] for r in rows)), "rows": len(rows),
        "linear": {
            "candidates_mean_accuracy": final,
            # how many seeds' runs of each candidate print what the original's one run did
            "candidates_seeds_printing_as_original": {
                name: sum(prints_as_original(r["candidates"][name], orig) for r in linear)
                for name in final},
            "sweep_mean_val_accuracy": {str(k): _mean([r["sweep"][k]["accuracy"]
                                                       for r in linear])
                                        for k in range(len(points))},
            "sweep_mean_train_zero_gradient_share": {
                str(k): _mean([r["sweep"][k]["train_zero_gradient_share"] for r in linear])
                for k in range(len(points))},
            "sweep_size_fit_max_log_error": size_fit,
            "fractions_mean_test_accuracy": {str(i): _mean([r["fractions"][i]["test"]["accuracy"]
                                                            for r in linear])
                                             for i in range(len(linear[0]["fractions"]))},
        },
        "mlp": {
            "test_accuracy_mean": _mean([r["final"]["test"]["accuracy"] for r in notebooks]),
            "fractions_mean_test_accuracy": {str(i): _mean([r["fractions"][i]["test"]["accuracy"]
                                                            for r in notebooks])
                                             for i in range(len(notebooks[0]["fractions"]))},
            "observations": {name: {
                "test_accuracy_mean": _mean([r["test"]["accuracy"] for r in recs]),
                "max_running_train_accuracy": float(max(max(r["running_train_accuracy"])
                                                        for r in recs)),
                "top_class_share_mean": _mean([r["test"]["top_class_share"] for r in recs]),
                "distinct_top_classes": len({r["test"]["top_class"] for r in recs}),
                "dead_unit_share_mean": _mean([r["test"]["dead_unit_share"] for r in recs]),
            } for name, recs in observations.items()},
        },
    }
    if sk is not None:
        out["sklearn"] = {**sk["accuracy"], "converged": sk["converged"],
                          "iterations_max": sk["iterations_max"]}
    return out
