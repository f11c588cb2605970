"""study.ablation: the ladder lays each rung over the ones before, every variant chooses its
learning rate on validation only (a diverged one never wins), records every seed with its
spread, and a process pool changes no bit."""

import numpy as np
import pytest
from helpers import composed, section, write_prepared_idx

from study.ablation import ablation_outputs, ladder, sigma_outputs, variant_records
from study.classify import load_prepared
from study.validate import config_problems

SECTION = section("linear", lr=0.05, batch_size=32, epochs=2, momentum=0.0, shift=0,
                  lr_decay=0.9, dtype="float64", seed=0, final_seeds=1,
                  grid={"lr": [0.05], "lambda": [1e-4]}, **{"lambda": 1e-4})


@pytest.fixture(scope="module")
def data_for(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    write_prepared_idx(folder)
    data = {flag: load_prepared(folder, "float64", flag) for flag in (True, False)}
    return data.__getitem__


def test_each_rung_lays_its_changes_over_the_rungs_before():
    steps = ladder({"assignment": {"a": 1, "b": 1}, "b": {"b": 2}, "c": {"c": 3}})
    assert steps == [("assignment", {"a": 1, "b": 1}), ("b", {"a": 1, "b": 2}),
                     ("c", {"a": 1, "b": 2, "c": 3})]


def test_the_learning_rate_is_chosen_on_validation_and_a_diverged_one_never_wins(data_for):
    # lr 100 with lambda 0.1 multiplies the weights by about -19 a step: float32 overflows
    strong_l2 = {"lambda": 0.1, "dtype": "float32", "epochs": 6}
    records = variant_records("linear", SECTION, [("plain", strong_l2)], data_for,
                              [100.0, 0.05, 1e-4], [0, 1], workers=1)
    (record,) = records
    by_lr = record["val_accuracy_by_lr"]
    assert by_lr["100.0"] is None
    assert record["lr"] == 0.05 and by_lr["0.05"] > by_lr["0.0001"]
    assert list(record["seeds"]) == ["0", "1"]
    tests = [run["test_accuracy"] for run in record["seeds"].values()]
    assert record["test_accuracy_mean"] == pytest.approx(np.mean(tests))
    assert record["test_accuracy_std"] == pytest.approx(np.std(tests, ddof=1))


def test_a_pool_gives_the_bits_of_one_process(data_for):
    variants = [("raw", {"standardise": False}), ("standardised", {})]
    one = variant_records("linear", SECTION, variants, data_for, [0.05, 0.01], [0, 1], 1)
    two = variant_records("linear", SECTION, variants, data_for, [0.05, 0.01], [0, 1], 2)
    assert one == two


def test_the_ladder_starts_at_the_assignment_and_restores_the_study_s_knobs(data_for):
    recipe = composed("ablation.linear.assignment.epochs=1", "ablation.linear.assignment.dtype="
                      "float64")["ablation"]["linear"]["assignment"]
    ablation = {"lrs": [0.05], "seeds": [0],
                "linear": {"assignment": recipe, "rungs": ["standardise", "lambda",
                                                           {"bias": True}]}}
    outputs, summary = ablation_outputs("linear", SECTION, {"lr": 0.1, "lambda": 0.0},
                                        ablation, data_for, workers=1)
    records = outputs["linear.json"]
    assert [r["variant"] for r in records] == ["assignment", "standardise", "lambda",
                                               "bias=true"]
    # a knob restores the study's value; a grid knob the sweep's choice
    assert [r["changes"] for r in records] == [recipe, {"standardise": True}, {"lambda": 0.0},
                                               {"bias": True}]
    assert records[-1]["settings"] == {**recipe, "standardise": True, "lambda": 0.0,
                                       "bias": True}
    assert len(outputs["linear.csv"].rows) == 4 and "bias=true" in summary


def test_the_first_rung_must_name_every_knob_of_the_model():
    """A knob added to a model (here mlp.optimizer) but not to the ladder's first rung would
    silently take the study's value in "the assignment's recipe"."""
    config = composed("+mlp.optimizer=sgd")
    (problem,) = [p for p in config_problems(config) if "assignment must name" in p]
    assert "ablation.mlp.assignment" in problem and "['optimizer']" in problem


def test_the_sigma_study_runs_the_default_and_each_sigma_at_the_chosen_point(data_for):
    outputs, _ = sigma_outputs(SECTION, {"lr": 0.05, "lambda": 1e-4},
                               {"values": [0.0, 1.0], "seeds": [0]}, data_for, workers=1)
    records = outputs["sigma.json"]
    assert [r["variant"] for r in records] == ["uniform", "0", "1"]
    assert {r["lr"] for r in records} == {0.05}
    assert records[1]["test_accuracy_mean"] != records[2]["test_accuracy_mean"]
