"""The replication of the original attempt (study.replicate): its maths against the original's
per-image loops, its split, its in-place-shuffled subsets, and the whole run on tiny data."""

import json
import math

import numpy as np
import pytest
import yaml
from helpers import MIRROR, ROOT, banded_images, needs_mirror

from study import replicate as R
from study.io import Table

CONF = yaml.safe_load((ROOT / "conf/replicate/default.yaml").read_text())
REPORT_ORIGINAL = yaml.safe_load((ROOT / "conf/report/default.yaml").read_text())["original"]


def original_softmax_grad(label, scores):
    """The original's loss_backward (l. 165-182), for one image."""
    reduced = scores - np.max(scores)
    temp = (1 / np.sum(np.exp(reduced))) * np.exp(reduced)
    temp[label] += -1
    return temp


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-12,
                               atol=1e-12 * float(np.max(np.abs(expected))))


def test_linear_step_is_the_originals_per_image_loop():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (7, 784)).astype(np.float64)  # raw pixels, never / 255
    y = rng.integers(0, 10, 7)
    W0 = rng.normal(0, 1e-5, (784, 10))
    lr, lam = 1e-3, 0.5
    W = W0.copy()
    for batch in (slice(0, 4), slice(4, 7)):  # two SGD steps, the second batch short
        R.linear_step(W, x[batch], y[batch], lr, lam)
    # the original: per image outer(x, grad) + 2 lam W summed into W_grad, one update a batch
    Wl = W0.copy()
    for batch in (range(0, 4), range(4, 7)):
        W_grad = np.zeros_like(Wl)
        for i in batch:
            scores = np.dot(Wl.T, x[i])
            grad = np.outer(x[i], original_softmax_grad(y[i], scores)) + 2 * lam * Wl
            W_grad += grad
        Wl -= W_grad * lr
    close(W, Wl)
    assert not np.allclose(W, W0)


def test_mlp_step_sums_the_per_image_gradients():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (6, 784)).astype(np.float64)
    y = rng.integers(0, 10, 6)
    model = R.mlp_init(np.random.default_rng(3), 784, 5, 1e-1, np.float64)
    W1, b1 = model[0].weight.data.T.copy(), model[0].bias.data.copy()  # (in, out) as original
    W2, b2 = model[2].weight.data.T.copy(), model[2].bias.data.copy()
    import barenet as bn

    optimizer = bn.SGD(model.parameters(), lr=0.01)
    for batch in (slice(0, 4), slice(4, 6)):
        R.mlp_step(model, optimizer, x[batch], y[batch], 255.0)
    for batch in (range(0, 4), range(4, 6)):
        g = [np.zeros_like(a) for a in (W1, b1, W2, b2)]
        for i in batch:  # one image at a time; gradients summed, never divided by the batch
            xi = x[i] / 255
            h = xi @ W1 + b1
            r = np.maximum(h, 0)
            d = original_softmax_grad(y[i], r @ W2 + b2)
            dh = (W2 @ d) * (h > 0)
            for acc, term in zip(g, (np.outer(xi, dh), dh, np.outer(r, d), d), strict=True):
                acc += term
        for param, grad in zip((W1, b1, W2, b2), g, strict=True):
            param -= 0.01 * grad
    close(model[0].weight.data.T, W1)
    close(model[0].bias.data, b1)
    close(model[2].weight.data.T, W2)
    close(model[2].bias.data, b2)


def test_split_is_train_test_split_of_the_dataset_itself():
    """The original split the data set object (a list of (image, label)); our index arrays
    pick the same items in the same order."""
    from sklearn.model_selection import train_test_split

    items = [(f"image{i}", i % 10) for i in range(250)]
    train_items, val_items = train_test_split(items, test_size=0.2, random_state=42)
    train, val = R.original_split(250, 0.2, 42)
    assert [items[i] for i in train] == list(train_items)
    assert [items[i] for i in val] == list(val_items)
    ref_train, ref_val = train_test_split(np.arange(60000), test_size=0.2, random_state=42)
    train, val = R.original_split(60000, 0.2, 42)
    assert np.array_equal(train, ref_train) and np.array_equal(val, ref_val)


@needs_mirror
def test_split_indices_pick_the_raw_idx_images():
    from study.data import read_idx

    raw = MIRROR / "MNIST" / "raw"
    images = read_idx(raw / "train-images-idx3-ubyte")
    labels = read_idx(raw / "train-labels-idx1-ubyte")
    data = R.RawMnist.from_arrays({"x_train": images, "y_train": labels,
                                   "x_test": images[:2], "y_test": labels[:2]}, "float64")
    train, val = R.original_split(60000, 0.2, 42)
    for idx in (train[:50], val[-50:]):
        assert np.array_equal(data.x_train[idx], images[idx].reshape(len(idx), 784))
        assert np.array_equal(data.y_train[idx], labels[idx])
    assert data.x_train.max() == 255  # raw pixels, as the original's linear model saw them


def test_first_n_is_of_the_list_shuffled_in_place():
    rng, twin = np.random.default_rng(5), np.random.default_rng(5)  # twin: the same draws
    order = np.arange(10)
    reference = list(range(10))  # the original's Python list, permuted in place
    for _ in range(3):  # three epochs of train() on the list itself
        R.shuffle_in_place(order, rng)
        reference[:] = [reference[i] for i in twin.permutation(10)]
    assert order.tolist() == reference
    assert sorted(reference) == list(range(10)) and reference != list(range(10))
    subset = R.first_n(order, 4)  # mnist_trainset[:4]: the first 4 of the SHUFFLED list
    assert subset.tolist() == reference[:4]
    R.shuffle_in_place(subset, rng)  # training on the slice shuffles a copy only
    assert order.tolist() == reference
    assert sorted(subset.tolist()) == sorted(reference[:4])


def test_printed_sweep_losses_imply_100_images():
    fit = R.sweep_size_fit(CONF["original"]["linear_sweep_val_loss"], CONF["linear"]["sweep"],
                           64, [64, 99, 100, 101, 128, 1000])
    assert fit["100"] < 1e-9
    assert min(v for k, v in fit.items() if k != "100") > 1e-3


def test_reproduced_rule_rounds_to_the_printed_precision():
    assert R.printed_precision(85.08) == 2 and R.printed_precision(92) == 0
    assert R.number_row("q", 85.08, [85.075, 86.0], "")[6] == 1   # 85.075 rounds to 85.08
    assert R.number_row("q", 85.08, [85.09, 86.0], "")[6] == 0
    assert R.class_row("c", 9, [9, 1, 9], "")[2] == pytest.approx(2 / 3)


def one_run(train: float, val: float, test: float, loss: float) -> dict:
    return {"train": {"accuracy": train}, "val": {"accuracy": val},
            "test": {"accuracy": test, "loss": loss}}


@pytest.mark.parametrize("run, prints", [
    (one_run(0.851, 0.849, 0.8508, 1014.1), True),   # as the lost cell printed: 0.85 x3, ~1,000
    (one_run(0.851, 0.849, 0.8508, 1049.0), True),
    (one_run(0.851, 0.849, 0.8508, 1051.0), False),  # the loss rounds to 1,100
    (one_run(0.851, 0.849, 0.8508, 942.3), False),   # ... to 900
    (one_run(0.856, 0.849, 0.8508, 1014.1), False),  # train prints as 0.86
    (one_run(0.851, 0.849, 0.8449, 1014.1), False),  # test prints as 0.84
])
def test_a_candidates_run_prints_as_the_original_only_if_every_printed_number_agrees(run, prints):
    """One seed's run of a candidate for the lost final cell against what that cell printed:
    train, validation and test accuracy at %.2g and the test loss to the hundreds."""
    assert R.prints_as_original(run, CONF["original"]) is prints


def tiny_config() -> dict:
    cfg = json.loads(json.dumps(CONF))
    cfg["seeds"] = [0, 1]
    lin = cfg["linear"]
    lin["sweep"].update(size=20, other_sizes=[40], epochs=1)
    lin["defaults"]["epochs"] = 1
    for cand in lin["candidates"].values():
        cand["epochs"] = 1
    lin["fractions"]["epochs"] = 1
    cfg["mlp"].update(hidden=8, epochs=1)
    for obs in cfg["mlp"]["observations"].values():
        obs.update(epochs=1, batch_size=min(obs["batch_size"], 64))
    return cfg


def tiny_data() -> R.RawMnist:
    rng = np.random.default_rng(0)
    y_train, y_test = np.arange(200) % 10, np.arange(60) % 10
    return R.RawMnist.from_arrays({"x_train": banded_images(y_train, 10, rng), "y_train": y_train,
                                   "x_test": banded_images(y_test, 10, rng), "y_test": y_test},
                                  "float64")


def numbers_only(obj) -> bool:
    if isinstance(obj, dict):
        return all(isinstance(k, str) and numbers_only(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(numbers_only(v) for v in obj)
    return isinstance(obj, int | float) and not isinstance(obj, bool)


def test_whole_replication_on_tiny_data_same_on_one_or_two_workers():
    data, cfg = tiny_data(), tiny_config()
    outputs, summary = R.replication_outputs(data, cfg, REPORT_ORIGINAL, workers=2)
    table = outputs["replication.csv"]
    assert isinstance(table, Table) and list(table.header) == R.REPLICATION_HEADER
    rows = list(table.rows)
    quantities = [r[0] for r in rows]
    assert sum(q.startswith("linear sweep point") and "val acc" in q for q in quantities) == 12
    for needed in ("MLP test acc %", "MLP best class", "linear fraction 50% test acc %",
                   "sklearn OvR LogisticRegression test acc (%.2g)"):
        assert needed in quantities
    assert all(r[6] in (0, 1) for r in rows)
    assert all(math.isfinite(r[2]) for r in rows)
    metrics = outputs["metrics.json"]
    assert numbers_only(metrics) and metrics["rows"] == len(rows)
    assert "reproduced" in summary
    # the figures' overlay: per share and seed, the re-run beside the original's printed number,
    # the re-run's seed mean the replication table's (which quotes it in percent)
    for model, label in (("linear", "linear"), ("mlp", "MLP")):
        fraction = outputs[f"{model}_fraction.csv"]
        by_share: dict[float, list[float]] = {}
        for share, _, rerun, reported in fraction.rows:
            by_share.setdefault(share, []).append(rerun)
            row = next(r for r in rows if r[0] == f"{label} fraction {round(100 * share)}% "
                       "test acc %")
            assert reported == pytest.approx(row[1] / 100)
        for share, values in by_share.items():
            row = next(r for r in rows if r[0] == f"{label} fraction {round(100 * share)}% "
                       "test acc %")
            assert len(values) == len(cfg["seeds"]) and 100 * np.mean(values) == pytest.approx(
                row[2])
    # the same numbers whichever way the runs are shared out
    again, _ = R.replication_outputs(data, cfg, REPORT_ORIGINAL, workers=1)
    assert json.dumps(again["metrics.json"]) == json.dumps(metrics)
    assert list(again["replication.csv"].rows) == rows
