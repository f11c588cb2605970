"""study.ablation: the ladder runs from the original's recipe to the study's over paired seeds,
judges each change by a paired interval, ends at the study's recipe or says what is missing, and
undoes each change alone; an initialisation variant chooses its learning rate on validation only
(a diverged one never wins); a process pool changes no bit."""

import functools

import numpy as np
import pytest
from helpers import composed, section, write_prepared_idx

from study.ablation import ablation_outputs, paired, sigma_outputs, variant_records
from study.classify import load_prepared
from study.validate import config_problems

SECTION = section("linear", lr=0.05, batch_size=32, epochs=2, momentum=0.0, shift=0,
                  lr_decay=0.9, dtype="float64", seed=0, final_seeds=1,
                  grid={"lr": [0.05], "lambda": [1e-4]}, **{"lambda": 1e-4})


@pytest.fixture(scope="module")
def data_for(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    write_prepared_idx(folder)
    return functools.cache(lambda inputs: load_prepared(folder, *inputs))


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
    variants = [("unit", {"standardise": False}), ("standardised", {})]
    one = variant_records("linear", SECTION, variants, data_for, [0.05, 0.01], [0, 1], 1)
    two = variant_records("linear", SECTION, variants, data_for, [0.05, 0.01], [0, 1], 2)
    assert one == two


def ladder_spec(**changes) -> dict:
    """conf/ablation with the tiny data's dtype and 1 epoch on every rung, and ``changes``."""
    spec = composed()["ablation"]
    spec["seeds"] = [0, 1, 2]
    spec["linear"]["original"].update(epochs=1)
    spec["linear"].update(changes)
    return spec


def test_the_ladder_climbs_from_the_original_to_the_study_s_recipe_over_paired_seeds(data_for):
    study = {**SECTION, "epochs": 1, "batch_size": 64, "dtype": "float32"}
    best = {"lr": 0.05, "lambda": 1e-4}
    read = []

    def recorded(inputs):
        read.append(inputs)
        return data_for(inputs)

    outputs, summary = ablation_outputs("linear", study, best, ladder_spec(), recorded, 2)
    # each recipe reads its inputs in its own dtype: rung 0 raw pixels in float64, then scaled
    assert {("float64", False, False), ("float64", False, True),
            ("float32", True, True)} <= set(read)
    result = outputs["linear.json"]
    ladder = result["ladder"]
    assert [r["name"] for r in ladder] == [
        "original", "scale_pixels", "dtype", "l2_per",
        "gradient=mean, lr=0.064, lambda=0.00015625", "init_std", "lr, lambda", "epochs",
        "standardise", "lr_decay", "bias=true"]
    assert ladder[0]["settings"]["gradient"] == "sum" and ladder[0]["changes"] == {}
    assert ladder[6]["changes"] == best  # a grid knob takes the sweep's choice
    assert ladder[9]["settings"] == {**{k: v for k, v in study.items()
                                        if k not in ("grid", "seed", "final_seeds")}, **best}
    change = ladder[2]["change"]["val_accuracy"]
    diffs = [b["val_accuracy"] - a["val_accuracy"]
             for a, b in zip(ladder[1]["seeds"].values(), ladder[2]["seeds"].values(),
                             strict=True)]
    assert change["pairs"] == 3 and change["mean"] == pytest.approx(np.mean(diffs))
    assert change["low"] <= change["mean"] <= change["high"]
    # undone alone: every change to the study's recipe but the pixels' scale, which
    # standardised inputs cannot show, and the reparametrisation, which would take back the
    # learning rate chosen after it
    reparametrisation = "gradient=mean, lr=0.064, lambda=0.00015625"
    undone = [r["name"] for r in ladder[1:10]
              if r["name"] not in ("scale_pixels", reparametrisation)]
    assert [r["name"] for r in result["leave_one_out"]] == undone
    assert [r["name"] for r in result["not_undone"]] == ["scale_pixels", reparametrisation]
    assert result["leave_one_out"][1]["settings"] == {**ladder[9]["settings"],
                                                      "l2_per": "image"}
    # each change goes back to its value just before its rung: the chosen lr and lambda to the
    # reparametrised original's, not the original's (a summed gradient's) values
    chosen = next(r for r in result["leave_one_out"] if r["name"] == "lr, lambda")
    assert chosen["settings"] == {**ladder[9]["settings"], "lr": 0.064, "lambda": 0.00015625}
    assert len(outputs["linear.csv"].rows) == 33 and "bias=true" in summary


def test_a_ladder_that_stops_short_of_the_study_s_recipe_climbs_the_rest_in_one_rung(data_for):
    """As when an experiment changes a knob no rung names (dvc exp run -S mlp.hidden=50)."""
    spec = ladder_spec(rungs=["scale_pixels", "l2_per"], beyond=[])
    study = {**SECTION, "epochs": 1, "batch_size": 64}
    best = {"lr": 0.05, "lambda": 1e-4}
    result = ablation_outputs("linear", study, best, spec, data_for, 1)[0]["linear.json"]
    last = result["ladder"][-1]
    assert result["study_rung"] == 3 and last["name"].startswith("the rest of the study's")
    assert {"standardise", "lr_decay", "gradient"} <= set(last["changes"])
    assert last["settings"] == {**{k: v for k, v in study.items()
                                   if k not in ("grid", "seed", "final_seeds")}, **best}


def test_a_paired_interval_follows_the_t_distribution():
    interval = paired([0.90, 0.91, 0.92], [0.91, 0.93, 0.93])
    assert interval["mean"] == pytest.approx(0.04 / 3)
    assert interval["half_width"] == pytest.approx(4.302653 * np.std([0.01, 0.02, 0.01],
                                                                      ddof=1) / np.sqrt(3))
    assert paired([0.9, None], [0.8, 0.7])["low"] is None  # one pair: no interval


def test_the_first_rung_must_name_every_knob_of_the_model():
    """A knob added to a model (here mlp.optimizer) but not to the ladder's first rung would
    silently take the study's value in "the original's recipe"."""
    config = composed("+mlp.optimizer=sgd")
    (problem,) = [p for p in config_problems(config) if "original must name" in p]
    assert "ablation.mlp.original" in problem and "['optimizer']" in problem


def test_the_sigma_study_runs_the_default_and_each_sigma_at_the_chosen_point(data_for):
    outputs, _ = sigma_outputs(SECTION, {"lr": 0.05, "lambda": 1e-4},
                               {"values": [0.0, 1.0], "seeds": [0]}, data_for, workers=1)
    records = outputs["sigma.json"]
    assert [r["variant"] for r in records] == ["uniform", "0", "1"]
    assert {r["lr"] for r in records} == {0.05}
    assert records[1]["test_accuracy_mean"] != records[2]["test_accuracy_mean"]
