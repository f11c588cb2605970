"""The final models as files (study.classify.model_file / load_classifier, the stages' files
under paths.models): the file a final run writes loads as the model it tested, its settings
rebuild that very model, and the tiny study's files score exactly what its reports say. A
file of another kind, whose settings and arrays disagree, or damaged, stops with one
ModelFileError naming it."""

import numpy as np
import pytest
from helpers import (
    PATHS,
    ROOT,
    models_versus_reports,
    needs_mirror,
    section,
    write_prepared_idx,
)

import barenet as bn
from barenet.saving import describe
from study import layout
from study.classify import build_model, final_outputs, load_classifier, load_prepared


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    write_prepared_idx(folder)
    return load_prepared(folder, "float32")


@pytest.fixture(scope="module")
def mlp_file(tiny_data, tmp_path_factory):
    """final@mlp's outputs and model file on tiny data; the file written where the stage would."""
    config = section("mlp", epochs=1, hidden=8, final_seeds=1, dtype="float32",
                     grid={"lr": [0.05], "batch_size": [32]})
    outputs, model, _ = final_outputs("mlp", config, {"lr": 0.05, "batch_size": 32}, tiny_data)
    path = tmp_path_factory.mktemp("models") / layout.model_file(PATHS["models"], "mlp")
    path.parent.mkdir(parents=True)
    path.write_bytes(model)
    return outputs, path


def test_the_saved_final_model_scores_what_its_run_reported(mlp_file, tiny_data):
    outputs, path = mlp_file
    model, settings = load_classifier(path, "mlp")
    test = bn.evaluate(model, tiny_data.x["test"], tiny_data.y["test"])
    assert test.accuracy == outputs["metrics.json"]["test"]["accuracy"]
    assert test.loss == outputs["metrics.json"]["test"]["loss"]
    predicted = bn.train.predict_scores(model, tiny_data.x["test"]).argmax(axis=1)
    names = settings["class_names"]
    assert [(names[a], names[p]) for a, p in zip(tiny_data.y["test"], predicted, strict=True)] \
        == list(outputs["predictions.csv"].rows)
    # the settings rebuild the same module tree, through the study's own builder
    section_ = settings["section"]
    assert (section_["hidden"], section_["lr"], settings["kind"]) == (8, 0.05, "mlp")
    rebuilt = build_model("mlp", section_, settings["n_features"], len(names),
                          np.random.default_rng(0))
    assert describe(rebuilt) == describe(model)
    assert settings["preprocessing"] == tiny_data.preprocessing


def one_line_error(path, kind="mlp") -> str:
    with pytest.raises(bn.ModelFileError) as caught:
        load_classifier(path, kind)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


def test_a_model_file_of_another_kind_is_refused(mlp_file):
    _, path = mlp_file
    assert "a mlp model; expected the cnn classifier's file" in one_line_error(path, "cnn")


def test_settings_that_do_not_rebuild_the_arrays_are_refused(mlp_file, tmp_path):
    """A file whose settings were edited (hidden 8 -> 9) still holds 8 hidden units: barenet
    would load its arrays, but the study's check that the settings rebuild them refuses it."""
    _, path = mlp_file
    model, settings = load_classifier(path, "mlp")
    forged = tmp_path / "mlp.npz"
    forged.write_bytes(bn.model_bytes(model, {**settings, "section": {
        **settings["section"], "hidden": 9}}))
    assert "its settings build" in one_line_error(forged)
    bare = tmp_path / "bare.npz"  # barenet's format, but no study settings
    bare.write_bytes(bn.model_bytes(model))
    assert "its settings do not rebuild a classifier" in one_line_error(bare)


def test_a_truncated_or_foreign_model_file_is_refused(mlp_file, tmp_path):
    _, path = mlp_file
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:1000])
    assert "not an intact .npz archive" in one_line_error(truncated)
    foreign = tmp_path / "idx.npz"
    np.savez(foreign, x_test=np.zeros((2, 784), np.float32), y_test=np.arange(2))
    assert "without barenet's '__model__' entry" in one_line_error(foreign)
    text = tmp_path / "notes.npz"
    text.write_text("the MLP reached 98.6%\n")
    assert "not an intact .npz archive" in one_line_error(text)


def test_each_final_model_is_a_dvc_cached_out_and_a_model_artifact_of_dvc_yaml():
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        cached = {out.def_path: out.use_cache for stage in repo.index.stages
                  for out in stage.outs}
        artifacts = repo.artifacts.read()["dvc.yaml"]
    files = {name: layout.model_file(PATHS["models"], name) for name in layout.CLASSIFIERS}
    assert {name: artifact.path for name, artifact in artifacts.items()} == files
    assert all(artifact.type == "model" and artifact.desc for artifact in artifacts.values())
    assert all(cached.get(path) is True for path in files.values()), cached


@pytest.mark.slow
@needs_mirror
def test_every_model_of_the_tiny_study_scores_as_its_reports_say(reproduced_tiny_study):
    assert models_versus_reports(reproduced_tiny_study) == {
        name: [] for name in layout.CLASSIFIERS}
