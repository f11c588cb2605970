"""The classifier experiments' pure pieces (study.classify): sweep naming, the selection and its
tables, the chosen point put in place, fraction subsets, and the prepared data's
standardisation."""

import numpy as np
import pytest
from helpers import section, write_prepared_idx

from study.bars import not_numbers
from study.classify import (
    _standardised,
    best_point,
    build_model,
    equal_steps,
    final_outputs,
    fraction_outputs,
    fraction_subset,
    grid_points,
    load_prepared,
    point_name,
    seed_runs,
    selection_outputs,
    sweep_and_final_outputs,
    sweep_outputs,
    sweep_point_outputs,
    train_classifier,
    with_chosen_point,
)
from study.data import train_pixel_statistics
from study.io import Table, save_npy, write_json
from study.stats import wilson_interval


def result(lr, lam, acc, loss, diverged=None):
    return {"point": {"lr": lr, "lambda": lam}, "diverged": diverged is not None,
            "diverged_at_epoch": diverged, "val_accuracy": None if diverged else acc,
            "val_loss": None if diverged else loss, "train_accuracy": None if diverged else acc}


def test_grid_points_follow_dvc_matrix_order_and_names():
    points = grid_points({"lr": [0.1, 0.01], "lambda": [0.0, 1e-05]})
    assert [point_name(p) for p in points] == [
        "lambda_0.0-lr_0.1", "lambda_1e-05-lr_0.1", "lambda_0.0-lr_0.01", "lambda_1e-05-lr_0.01"]


def test_best_point_prefers_accuracy_then_lower_loss_and_skips_diverged():
    results = [result(1.0, 0, None, None, diverged=2), result(0.1, 0, 0.9, 0.3),
               result(0.01, 0, 0.9, 0.2), result(0.001, 0, 0.8, 0.1)]
    assert best_point(results)["point"]["lr"] == 0.01


def test_best_point_when_everything_diverged_says_what_to_do():
    with pytest.raises(ValueError, match="lower the learning rates"):
        best_point([result(1.0, 0, None, None, diverged=1)])


def test_selection_tables_mark_the_choice_and_divergence():
    results = [result(0.1, 0.0, 0.91, 0.3), result(9.0, 0.0, None, None, diverged=1)]
    outputs, summary = selection_outputs({"lr": [0.1, 9.0], "lambda": [0.0]}, results)
    assert "**0.9100** (chosen)" in outputs["sweep.md"]
    assert "diverged (epoch 1)" in outputs["sweep.md"]
    table = outputs["sweep.csv"]
    rows = list(table.rows)
    assert isinstance(table, Table) and table.header[:3] == ["lr", "lambda", "val_accuracy"]
    assert rows[1][2] is None and rows[1][-1] == 1
    cells = outputs["heatmap.json"]
    assert {c["metric"] for c in cells} == {"val accuracy", "val loss"} and len(cells) == 4
    assert outputs["best.json"] == {"lr": 0.1, "lambda": 0.0, "val_accuracy": 0.91,
                                    "val_loss": 0.3}
    assert "(1 diverged)" in summary


def test_the_chosen_point_replaces_the_grid_values_in_a_copy():
    section = {"grid": {"lr": [0.1, 0.01], "lambda": [0.0]}, "epochs": 3}
    chosen_section, chosen = with_chosen_point(section, {"lr": 0.01, "lambda": 0.0,
                                                         "val_accuracy": 0.9, "val_loss": 0.3})
    assert chosen == {"lr": 0.01, "lambda": 0.0}
    assert chosen_section == {**section, **chosen} and "lr" not in section


def test_fraction_subset_is_seeded_and_sized():
    rows = fraction_subset(1000, 0.1, seed=0)
    assert len(rows) == 100 and len(set(rows)) == 100 and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, fraction_subset(1000, 0.1, seed=0))
    assert len(fraction_subset(1000, 1.0, seed=0)) == 1000
    assert len(fraction_subset(1000, 1e-6, seed=0)) == 1  # never an empty training set


def test_standardisation_uses_the_train_split_only(tmp_path):
    pixels = {"train": 0, "val": 200, "test": 255}  # val and test far from train
    for split, value in pixels.items():
        images = np.full((3, 28, 28), value, dtype=np.uint8)
        images[0, 0, 0] = 100  # some spread, so the std is not zero
        save_npy(tmp_path / f"x_{split}.npy", images)
        save_npy(tmp_path / f"y_{split}.npy", np.array([0, 1, 2], dtype=np.uint8))
    statistics = train_pixel_statistics(np.load(tmp_path / "x_train.npy"))
    write_json(tmp_path / "meta.json", {"class_names": ["a", "b", "c"],
                                        "train_pixels": statistics})
    data = load_prepared(tmp_path, "float32")
    train = np.full((3, 784), 0.0)
    train[0, 0] = 100 / 255
    assert data.preprocessing["mean"] == pytest.approx(train.mean())
    assert data.preprocessing["std"] == pytest.approx(train.std())
    assert data.x["train"].dtype == np.float32 and data.x["val"].shape == (3, 784)
    assert data.y["test"].dtype == np.int64 and data.class_names == ["a", "b", "c"]
    assert abs(float(data.x["train"].mean())) < 1e-6  # centred on train, not on all splits
    assert data.preprocessing["background"] == pytest.approx(float(data.x["train"][1, 0]))


def test_chunked_standardisation_gives_the_bits_of_the_whole_array():
    images = np.random.default_rng(0).integers(0, 256, (1000, 28, 28), dtype=np.uint8)
    stats = train_pixel_statistics(images)
    whole = ((images.reshape(1000, -1) / 255.0 - stats["mean"]) / stats["std"]).astype("float32")
    assert np.array_equal(_standardised(images, stats["mean"], stats["std"], "float32", rows=77),
                          whole)


def test_data_from_an_older_prepare_stage_is_refused(tmp_path):
    write_json(tmp_path / "meta.json", {"class_names": ["a", "b", "c"]})
    with pytest.raises(ValueError, match="dvc repro prepare_idx"):
        load_prepared(tmp_path, "float32")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    write_prepared_idx(folder)
    return load_prepared(folder, "float64")


def tiny_section(kind):
    """conf/'s section of ``kind``, shrunk to train in a moment on tiny_data."""
    own = {"mlp": {"hidden": 16}, "cnn": {"channels": [2, 3], "kernel_size": 3},
           "linear": {"bias": True}}[kind]
    return section(kind, lr=0.05, batch_size=32, epochs=2, momentum=0.9, shift=1, lr_decay=0.9,
                   dtype="float64", seed=0, final_seeds=3, grid={"lr": [0.05]},
                   **{"lambda": 1e-4}, **own)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_seed_runs_in_a_process_pool_give_the_bits_of_one_process(tiny_data, kind):
    serial = seed_runs(kind, tiny_section(kind), tiny_data, [1, 2, 3], workers=1)
    pooled = seed_runs(kind, tiny_section(kind), tiny_data, [1, 2, 3], workers=2)
    assert serial == pooled
    assert [run["seed"] for run in serial] == [1, 2, 3]
    assert len({run["test_loss"] for run in serial}) == 3  # the seed really changes the run


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_a_sweep_in_a_process_pool_gives_the_bits_of_its_points_run_one_by_one(tiny_data, kind):
    section = {**tiny_section(kind), "grid": {"lr": [0.05, 0.01], "seed": [0, 1]}}
    pooled, summary = sweep_outputs(kind, section, tiny_data, workers=2)
    serial, _ = sweep_outputs(kind, section, tiny_data, workers=1)
    assert pooled == serial
    one_by_one = {}
    for point in grid_points(section["grid"]):
        one_by_one.update(sweep_point_outputs(kind, {**section, **point}, tiny_data)[0])
    assert {k: v for k, v in pooled.items() if k.startswith("sweep/")} == one_by_one
    assert list(one_by_one) == ["sweep/lr_0.05-seed_0.json", "sweep/lr_0.05-seed_1.json",
                                "sweep/lr_0.01-seed_0.json", "sweep/lr_0.01-seed_1.json"]
    assert pooled["best.json"]["lr"] in (0.05, 0.01) and "best of 4 points" in summary


def test_the_fraction_runs_in_a_pool_are_tabulated_in_order(tiny_data):
    args = ("mlp", {**tiny_section("mlp"), "epochs": 2}, {"lr": 0.05}, tiny_data, [1.0, 0.5],
            [0, 1])
    pooled, _ = fraction_outputs(*args, workers=2)
    assert pooled == fraction_outputs(*args, workers=1)[0]
    n = len(tiny_data.y["train"])
    # per share and seed; half the images take twice the epochs: the same number of steps
    assert [row[:4] for row in pooled["fraction.csv"].rows] == [
        (1.0, 0, n, 2), (1.0, 1, n, 2), (0.5, 0, round(n / 2), 4), (0.5, 1, round(n / 2), 4)]
    assert list(pooled["fraction.json"]) == ["1.0", "0.5"]
    rows = list(pooled["fraction.csv"].rows)
    assert pooled["fraction.json"]["0.5"]["test"]["accuracy_mean"] == pytest.approx(
        np.mean([row[5] for row in rows[2:]]))


def test_a_share_takes_the_whole_sets_steps_and_learning_rate_schedule():
    section = {**tiny_section("linear"), "epochs": 3, "lr_decay": 0.8}
    tenth = equal_steps(section, 0.1)
    assert tenth["epochs"] == 30
    # the learning rate after all the epochs is the whole set's after its 3
    assert tenth["lr_decay"] ** tenth["epochs"] == pytest.approx(0.8 ** 3)
    assert equal_steps(section, 1.0)["epochs"] == 3


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # diverging, as meant
def test_a_diverged_fraction_is_tabulated_but_has_no_metric(tiny_data):
    # lr 1e50 with lambda 1: the L2 penalty alone multiplies the weights by about -2e50 a step
    section = {**tiny_section("linear"), "lambda": 1.0, "epochs": 2}
    outputs, summary = fraction_outputs("linear", section, {"lr": 1e50}, tiny_data, [1.0], [0])
    assert outputs["fraction.json"] == {}  # a metric is a number: no null
    assert [row[-1] for row in outputs["fraction.csv"].rows] == [None]
    assert "test accuracy diverged" in summary


def comparable(outputs: dict) -> dict:
    """A stage's outputs without figures, tables' rows as lists (they may be iterators)."""
    return {name: (value.header, list(value.rows)) if isinstance(value, Table) else value
            for name, value in outputs.items() if not hasattr(value, "savefig")}


def test_the_cnn_tests_the_model_it_chose_as_the_final_stage_would_retrain_it(tiny_data):
    section = {**tiny_section("cnn"), "grid": {"lr": [0.05, 0.01]}, "final_seeds": 2}
    outputs, model_file, summary = sweep_and_final_outputs("cnn", section, tiny_data, workers=2)
    pooled = comparable(outputs)
    assert pooled == comparable(sweep_and_final_outputs("cnn", section, tiny_data, workers=1)[0])
    best = pooled["best.json"]
    assert best["val_accuracy"] == max(  # chosen on validation
        r["value"] for r in pooled["heatmap.json"] if r["metric"] == "val accuracy")
    retrained_outputs, retrained_model, _ = final_outputs("cnn", section, best, tiny_data,
                                                          workers=1)
    retrained = comparable(retrained_outputs)
    assert retrained_model == model_file  # the model it tested, byte for byte
    assert {k: v for k, v in retrained.items() if k in pooled} == {
        k: v for k, v in pooled.items() if k in retrained}  # metrics, curves, per class, ...
    assert {"metrics.json", "curves.csv", "confusion.csv"} <= set(retrained)
    assert list(pooled["metrics.json"]["seeds"]) == ["0", "1"]  # and the other seeds' spread
    assert pooled["metrics.json"]["best"] == {"lr": best["lr"]}
    assert "chosen on validation" in summary
    assert {"weights.png", "mistakes.png"} <= set(outputs)  # the first-layer filters, drawn


def test_the_final_model_reports_every_seed_and_their_spread(tiny_data):
    outputs, _, summary = final_outputs("linear", tiny_section("linear"), {"lr": 0.05}, tiny_data,
                                        workers=2)
    metrics = outputs["metrics.json"]
    seeds = metrics["seeds"]
    assert list(seeds) == ["0", "1", "2"]
    assert seeds["0"]["test_accuracy"] == metrics["test"]["accuracy"]  # the headline is seed's
    values = np.array([s["test_accuracy"] for s in seeds.values()])
    assert metrics["test"]["accuracy_mean"] == pytest.approx(values.mean())
    assert metrics["test"]["accuracy_std"] == pytest.approx(values.std(ddof=1))
    assert "over 3 seeds" in summary
    assert hasattr(outputs["mistakes.png"], "savefig")  # the most confident mistakes, drawn
    # DVC tracks metrics.json as metrics: numbers only, the classes as indices into info.json's
    assert not_numbers(metrics) == []
    info = outputs["info.json"]
    assert info == {"class_names": tiny_data.class_names, "preprocessing": tiny_data.preprocessing}
    accuracy = [row[1] for row in outputs["per_class.csv"].rows]
    assert accuracy[metrics["best_class"]] == max(accuracy)
    assert accuracy[metrics["worst_class"]] == min(accuracy)
    # each class's test images and the 95% interval of its accuracy, for the per-class plots
    per_class = outputs["per_class.csv"]
    assert per_class.header == ["class", "accuracy", "loss", "n", "accuracy_low",
                                "accuracy_high"]
    rows = list(per_class.rows)
    assert sum(row[3] for row in rows) == len(tiny_data.y["test"])
    for _, class_accuracy, _, n, low, high in rows:
        correct = round(class_accuracy * n)
        assert class_accuracy == pytest.approx(correct / n)
        assert (low, high) == wilson_interval(correct, n)
        assert low - 1e-12 <= class_accuracy <= high + 1e-12  # (1.0 may end at 1 - 1e-16)


def test_the_original_recipe_knobs_take_the_replication_s_step(tmp_path):
    """train_classifier with raw pixels, a batch-summed gradient and the L2 gradient added per
    image (the ladder's rung 0) makes the update study.replicate makes, which its tests hold to
    a per-image loop; one batch holding every image, so the shuffle changes nothing but the
    order of a sum."""
    from study.replicate import linear_step, softmax_minus_onehot

    write_prepared_idx(tmp_path, n_train=40, n_val=20, n_test=20)
    data = load_prepared(tmp_path, "float64", standardise=False, scale_pixels=False)
    assert data.x["train"].max() > 1  # raw 0-255 values
    config = section("linear", lr=1e-4, batch_size=40, epochs=1, lr_decay=1.0, dtype="float64",
                     seed=3, init_std=1e-5, scale_pixels=False, standardise=False,
                     gradient="sum", l2_per="image", **{"lambda": 0.5})
    initial = build_model("linear", config, 784, 10, np.random.default_rng(3)).W.copy()
    model, _ = train_classifier("linear", config, data, train_curves=False)
    expected = initial.copy()
    linear_step(expected, data.x["train"], data.y["train"], 1e-4, 0.5)
    np.testing.assert_allclose(model.W, expected, rtol=0, atol=1e-12 * np.abs(expected).max())

    mlp = section("mlp", lr=0.01, batch_size=40, epochs=1, lr_decay=1.0, momentum=0.0, shift=0,
                  dtype="float64", seed=3, init_std=1e-3, standardise=False, gradient="sum",
                  hidden=8, **{"lambda": 0.0})
    scaled = load_prepared(tmp_path, "float64", standardise=False)
    before = build_model("mlp", mlp, 784, 10, np.random.default_rng(3))
    trained, _ = train_classifier("mlp", mlp, scaled, train_curves=False)
    scores = before.forward(scaled.x["train"])
    before.backward(softmax_minus_onehot(scores, scaled.y["train"]), need_input_grad=False)
    for old, new in zip(before.parameters(), trained.parameters(), strict=True):
        # a bias gradient sums 40 terms near 1 to about 1e-5: the order of that sum moves it
        # by about 1e-17, a mean instead of a sum by a factor of 40
        np.testing.assert_allclose(new.data, old.data - 0.01 * old.grad, rtol=0, atol=1e-15)
