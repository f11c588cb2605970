"""The pure pieces the stage scripts are glue around: sweep naming, selection, tables,
subsets, and the atomic writers."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import load_stage

from study.classify import grid_points, point_name, select_best
from study.io import atomic_path, save_npy, write_json

STAGES = Path(__file__).resolve().parents[1] / "stages"




def result(lr, lam, acc, loss, diverged=None):
    return {"point": {"lr": lr, "lambda": lam}, "diverged": diverged is not None,
            "diverged_at_epoch": diverged, "val_accuracy": None if diverged else acc,
            "val_loss": None if diverged else loss, "train_accuracy": None if diverged else acc}


def test_grid_points_follow_dvc_matrix_order_and_names():
    points = grid_points({"lr": [0.1, 0.01], "lambda": [0.0, 1e-05]})
    assert [point_name(p) for p in points] == [
        "lambda_0.0-lr_0.1", "lambda_1e-05-lr_0.1", "lambda_0.0-lr_0.01", "lambda_1e-05-lr_0.01"]


def test_select_best_prefers_accuracy_then_lower_loss_and_skips_diverged():
    results = [result(1.0, 0, None, None, diverged=2), result(0.1, 0, 0.9, 0.3),
               result(0.01, 0, 0.9, 0.2), result(0.001, 0, 0.8, 0.1)]
    assert select_best(results)["point"]["lr"] == 0.01


def test_select_best_when_everything_diverged_says_what_to_do():
    with pytest.raises(ValueError, match="lower the learning rates"):
        select_best([result(1.0, 0, None, None, diverged=1)])


def test_sweep_table_and_markdown_mark_the_choice_and_divergence():
    select = load_stage("select_best")
    results = [result(0.1, 0.0, 0.91, 0.3), result(9.0, 0.0, None, None, diverged=1)]
    best = select_best(results)
    text = select.markdown(results, ["lr", "lambda"], best)
    assert "**0.9100** (chosen)" in text and "diverged (epoch 1)" in text
    header, rows = select.sweep_table(results, ["lr", "lambda"])
    assert header[:3] == ["lr", "lambda", "val_accuracy"] and rows[1][2] is None
    cells = select.heatmap_rows(results, ["lr", "lambda"])
    assert {c["metric"] for c in cells} == {"val accuracy", "val loss"} and len(cells) == 4


def test_fraction_subset_is_seeded_sized_and_validated():
    fraction = load_stage("fraction_point")
    rows = fraction.subset(1000, 0.1, seed=0)
    assert len(rows) == 100 and len(set(rows)) == 100 and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, fraction.subset(1000, 0.1, seed=0))
    assert len(fraction.subset(1000, 1.0, seed=0)) == 1000
    with pytest.raises(ValueError, match="fraction"):
        fraction.subset(1000, 0.0, seed=0)


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"a": ')  # half written, then the stage dies
        raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(os.listdir(tmp_path)) == ["metrics.json"]  # no temp file left behind


def test_npy_bytes_depend_only_on_the_array(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    save_npy(tmp_path / "a.npy", a)
    save_npy(tmp_path / "b.npy", a.copy())
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    assert np.array_equal(np.load(tmp_path / "a.npy"), a)


def test_standardisation_uses_the_train_split_only(tmp_path):
    from study.classify import load_prepared, train_pixel_statistics
    from study.io import write_json

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


def test_chunked_standardisation_gives_the_bits_of_the_whole_array(tmp_path):
    from study.classify import _standardised, train_pixel_statistics

    images = np.random.default_rng(0).integers(0, 256, (1000, 28, 28), dtype=np.uint8)
    stats = train_pixel_statistics(images)
    whole = ((images.reshape(1000, -1) / 255.0 - stats["mean"]) / stats["std"]).astype("float32")
    assert np.array_equal(_standardised(images, stats["mean"], stats["std"], "float32", rows=77),
                          whole)


def test_data_from_an_older_prepare_stage_is_refused(tmp_path):
    from study.classify import load_prepared
    from study.io import write_json

    write_json(tmp_path / "meta.json", {"class_names": ["a", "b", "c"]})
    with pytest.raises(ValueError, match="dvc repro prepare_mnist"):
        load_prepared(tmp_path, "float32")
