"""barenet's model file (barenet.saving): every module the study builds goes through bytes and
comes back the same model, the file is a plain .npz NumPy reads without pickle, its bytes
depend only on the model, and anything but an intact model file (truncated, a flipped byte,
another .npz, a text file, arrays of another shape, a pickled array) stops with one
ModelFileError that names the file and what was expected."""

import io
import json
import zipfile

import numpy as np
import pytest

import barenet as bn
from barenet.saving import HEADER, describe

SOURCE = "models/some.npz"


def cnn(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return bn.Sequential(
        bn.Reshape((1, 8, 8)), bn.Conv2d(1, 2, 3, padding=1, rng=rng, dtype=dtype), bn.ReLU(),
        bn.MaxPool2d(2), bn.Conv2d(2, 3, (3, 1), stride=(1, 2), padding=(1, 0), dilation=(2, 1),
                                   bias=False, rng=rng, dtype=dtype),
        bn.AvgPool2d(1), bn.Flatten(), bn.Linear(3 * 2 * 2, 4, rng=rng, dtype=dtype))


MODELS = {
    "linear": lambda: bn.SoftmaxClassifier(64, 4, bias=False, rng=np.random.default_rng(1),
                                           dtype=np.float32),
    "linear_bias": lambda: bn.SoftmaxClassifier(64, 4, rng=np.random.default_rng(2)),
    "mlp": lambda: bn.MLP(64, 5, 4, rng=np.random.default_rng(3), dtype=np.float32),
    "cnn": cnn,
    "cnn_float64": lambda: cnn(np.float64),
}


@pytest.mark.parametrize("name", MODELS)
def test_a_model_comes_back_from_its_bytes_the_same_model(name):
    model = MODELS[name]()
    settings = {"kind": name, "nested": {"lr": 0.1, "grid": [1, 2]}, "none": None}
    loaded, read = bn.load_model(bn.model_bytes(model, settings), SOURCE)
    assert read == settings
    assert type(loaded) is type(model) and describe(loaded) == describe(model)
    saved = dict(model.named_parameters())
    restored = dict(loaded.named_parameters())
    assert list(restored) == list(saved)
    for key, parameter in saved.items():
        assert restored[key].data.dtype == parameter.data.dtype
        np.testing.assert_array_equal(restored[key].data, parameter.data)
    x = np.random.default_rng(4).standard_normal((5, 64)).astype(model.parameters()[0].data.dtype)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_the_file_is_a_plain_npz_of_named_arrays_and_its_bytes_depend_only_on_the_model():
    model = MODELS["mlp"]()
    data = bn.model_bytes(model, {"kind": "mlp"})
    assert bn.model_bytes(MODELS["mlp"](), {"kind": "mlp"}) == data  # no time inside
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = dict(npz)
    header = json.loads(str(arrays.pop(HEADER)))
    assert header["settings"] == {"kind": "mlp"} and header["model"] == describe(model)
    assert sorted(arrays) == sorted(name for name, _ in model.named_parameters())
    np.testing.assert_array_equal(arrays["layers.0.weight"], model[0].weight.data)
    other = MODELS["mlp"]()
    other[2].bias.data[0] += 1e-6
    assert bn.model_bytes(other, {"kind": "mlp"}) != data


def test_a_module_without_a_config_cannot_be_saved():
    class Custom(bn.Module):
        pass

    with pytest.raises(TypeError, match="Custom has no config"):
        bn.model_bytes(bn.Sequential(Custom()))


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def with_entries(data: bytes, replace: dict[str, np.ndarray], drop=()) -> bytes:
    """The model file ``data`` with some entries replaced or dropped (a forged file)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {k: v for k, v in npz.items() if k not in drop}
    return npz_bytes(**{**arrays, **replace})


def header_of(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return json.loads(str(npz[HEADER]))


def flipped(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


GOOD = bn.model_bytes(MODELS["mlp"](), {"kind": "mlp"})
MLP_HEADER = header_of(GOOD)
OTHER_MLP = bn.model_bytes(bn.MLP(64, 7, 4, rng=np.random.default_rng(0), dtype=np.float32))
WEIGHT_AT = GOOD.index(MODELS["mlp"]()[0].weight.data.tobytes()[:32]) + 100

BAD_FILES = {
    "truncated to half": (GOOD[:len(GOOD) // 2], "not an intact .npz"),
    "one byte short": (GOOD[:-1], "not an intact .npz"),
    "empty": (b"", "not an intact .npz"),
    "a flipped byte in a weight": (flipped(GOOD, WEIGHT_AT), "not an intact .npz"),
    "a text file": (b"linear classifier, accuracy 0.92\n", "not an intact .npz"),
    "a zip of other files": (None, "are not .npy arrays"),
    "an npz of other arrays": (npz_bytes(x_train=np.zeros((3, 4)), y_train=np.arange(3)),
                               "without barenet's '__model__' entry"),
    "a pickled array": (None, "not an intact .npz"),
    "another format": (with_entries(GOOD, {HEADER: np.array(json.dumps(
        {**MLP_HEADER, "format": "keras"}))}), "format 'keras'"),
    "a header that is not json": (with_entries(GOOD, {HEADER: np.array("{mlp")}),
                                  "does not describe a model"),
    "an unknown module": (with_entries(GOOD, {HEADER: np.array(json.dumps(
        {**MLP_HEADER, "model": {"type": "Transformer"}}))}), "unknown module type"),
    "a missing weight": (with_entries(GOOD, {}, drop=["layers.2.bias"]),
                         "missing ['layers.2.bias']"),
    "an extra array": (with_entries(GOOD, {"layers.5.weight": np.zeros(3)}),
                       "unexpected ['layers.5.weight']"),
    "another model's arrays": (with_entries(OTHER_MLP, {HEADER: np.array(json.dumps(
        MLP_HEADER))}), "its model needs float32[5, 64]"),
    "another dtype": (with_entries(GOOD, {"layers.0.weight": np.zeros((5, 64))}),
                      "is float64[5, 64], its model needs float32[5, 64]"),
    "a NaN weight": (with_entries(GOOD, {"layers.0.bias": np.full(5, np.nan, np.float32)}),
                     "holds NaN or inf"),
}


def _zip_of_text() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "not a model")
    return buffer.getvalue()


def _pickled() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{HEADER: np.array(json.dumps(MLP_HEADER)),
                        "layers.0.weight": np.array([object()], dtype=object)})
    return buffer.getvalue()


BAD_FILES["a zip of other files"] = (_zip_of_text(), BAD_FILES["a zip of other files"][1])
BAD_FILES["a pickled array"] = (_pickled(), "Object arrays cannot be loaded")


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_stops_with_one_line_naming_the_file_and_what_was_expected(case):
    data, reason = BAD_FILES[case]
    with pytest.raises(bn.ModelFileError) as caught:
        bn.load_model(data, SOURCE)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{SOURCE}: ")
    assert reason in message and message.endswith("expected a barenet model file "
                                                  "(barenet.model_bytes: an .npz of named arrays)")


def test_every_truncation_of_a_model_file_is_refused():
    small = bn.model_bytes(bn.SoftmaxClassifier(3, 2, rng=np.random.default_rng(0)))
    for end in range(len(small)):
        with pytest.raises(bn.ModelFileError):
            bn.load_model(small[:end], SOURCE)
    assert bn.load_model(small, SOURCE)[0].config()["n_features"] == 3
