"""Bad config: every knob is checked before any compute, and a bad value is one clean line that
names the key, the value, what is allowed and where to fix it; never a deep NumPy traceback,
never a silent NaN. Hypothesis draws invalid overrides, composes them exactly as `dvc exp run
-S` does and checks the validator's answer; a few real stage runs show the clean exit."""

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import PARAMS, ROOT, stage_project
from hypothesis import given
from hypothesis import strategies as st

from study.params import compose
from study.validate import RULES, config_problems, fix_hint, leaves, rule_for

# the keys one sweep point is given (stages/sweep_point.py `+linear.lr=...`, and the sweep stage
# for each grid point), not in params.yaml
POINT_KEYS = ["linear.lr", "linear.lambda", "mlp.lr", "mlp.batch_size"]
# where a person sets a point's value: the grid, never the point key itself
SET_AS = {"linear.lr": "linear.grid.lr", "linear.lambda": "linear.grid.lambda",
          "mlp.lr": "mlp.grid.lr", "mlp.batch_size": "mlp.grid.batch_size"}

# What the issue asks of each kind of numeric knob, by the last part of its key: stated here
# independently of study.validate, so a rule that is too lax fails.
KIND_BY_NAME = {
    "positive": {"lr", "C", "tol", "fd_step", "scale"},
    "non_negative": {"lambda"},
    "non_negative_or_null": {"init_std"},
    "count": {"epochs", "max_epochs", "extended_epochs", "passes", "max_iter", "batch_size",
              "hidden", "n_images", "out_channels", "kernel_size", "memory", "final_seeds",
              "workers", "channels", "check_every"},
    "index": {"seed", "split_seed", "init_seed", "padding", "shift"},
    "fraction": {"fraction", "values", "lr_decay", "val_fraction", "shares"},
    "momentum": {"momentum"},
}
STRUCTURED = {"scalar.points", "blur.kernel"}  # lists of numbers with their own tests below
KIND_BY_KEY = {"ablation.seeds": "index", "replicate.seeds": "index", "fraction.seeds": "index",
               "replicate.split.test_size": "fraction", "replicate.split.random_state": "index",
               "replicate.linear.sweep.size": "count",
               "replicate.linear.sweep.other_sizes": "count",
               "replicate.linear.sweep.lrs": "positive",
               "replicate.linear.sweep.lambdas": "non_negative",
               "sigma.values": "non_negative", "sigma.seeds": "index",
               "c0.original.seeds": "index", "module_grad.conv_cases": "count"}


def kind_of(key: str) -> str | None:
    if key.startswith(("report.original.", "replicate.original.")):  # the original's results
        return "non_negative"
    if key in KIND_BY_KEY:
        return KIND_BY_KEY[key]
    name = key.split(".")[-1]
    return next((kind for kind, names in KIND_BY_NAME.items() if name in names), None)


def is_numeric(value) -> bool:
    values = value if isinstance(value, list) else [value]
    return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool)
                                for v in values)


NUMERIC_KEYS = sorted({k for k, v in leaves(PARAMS).items() if is_numeric(v)} - STRUCTURED
                      | set(POINT_KEYS))

NOT_A_NUMBER = st.sampled_from(["abc", "1", "", True, False, None, math.nan, math.inf,
                                -math.inf])
ANY_FLOAT = st.floats(allow_nan=False, allow_infinity=False)
INVALID = {
    "positive": st.floats(max_value=0.0) | st.integers(max_value=0) | NOT_A_NUMBER,
    "non_negative": st.floats(max_value=0.0, exclude_max=True) | st.integers(max_value=-1)
    | NOT_A_NUMBER,
    "non_negative_or_null": st.floats(max_value=0.0, exclude_max=True)
    | st.integers(max_value=-1) | NOT_A_NUMBER.filter(lambda v: v is not None),
    "count": st.integers(max_value=0) | ANY_FLOAT | NOT_A_NUMBER,  # 2.0 is not a count
    "index": st.integers(max_value=-1) | ANY_FLOAT | NOT_A_NUMBER,
    "fraction": st.floats(max_value=0.0) | st.floats(min_value=1.0, exclude_min=True)
    | st.integers(max_value=0) | st.integers(min_value=2) | NOT_A_NUMBER,
    "momentum": st.floats(max_value=0.0, exclude_max=True) | st.floats(min_value=1.0)
    | st.integers(min_value=1) | NOT_A_NUMBER,
}


def override_text(value) -> str:
    """``value`` as Hydra's override grammar reads it back."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"'{value}'"  # quoted: "1" stays the string "1"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # nan, inf, -inf
    return repr(value)


def test_every_knob_of_params_yaml_has_a_rule():
    assert [key for key in leaves(PARAMS) if rule_for(key) is None] == [], (
        "a knob without a rule in study/validate.py RULES")


def test_every_numeric_knob_has_an_expected_kind_here():
    assert [key for key in NUMERIC_KEYS if kind_of(key) is None] == [], (
        "a new numeric knob: add what it must satisfy to KIND_BY_NAME")


def test_the_study_config_is_valid():
    assert config_problems(PARAMS) == []


@pytest.mark.parametrize("key", sorted(leaves(PARAMS)))
def test_every_hint_names_a_place_that_exists(key):
    """fix_hint does not read conf/: the file or folder it names must be there."""
    place = re.search(r"fix it in (\S+) and run `make params`", fix_hint(key, PARAMS))[1]
    assert (ROOT / place).exists(), f"{key}: {place}"


@st.composite
def invalid_overrides(draw) -> tuple[str, str]:
    """(key, override) setting one numeric knob (or one value of a list knob) to a value
    that breaks what its kind allows."""
    key = draw(st.sampled_from(NUMERIC_KEYS))
    bad = draw(INVALID[kind_of(key)])
    current = leaves(PARAMS).get(key)
    if isinstance(current, list):
        values = list(current)
        values.insert(draw(st.integers(0, len(values))), bad)
        text = "[" + ",".join(override_text(v) for v in values) + "]"
    else:
        text = override_text(bad)
    return key, f"{'+' if key in POINT_KEYS else ''}{key}={text}"


@given(case=invalid_overrides())
def test_an_invalid_override_is_one_clear_line_naming_the_key(case):
    key, override = case
    composed = yaml.safe_load(compose(ROOT, [override]))
    problems = config_problems(composed)
    naming = [p for p in problems if re.match(rf"{re.escape(key)}(\[\d+\])? must ", p)]
    assert naming, (override, problems)
    line = naming[0]
    assert "\n" not in line and ", got " in line
    where = f"conf/{key.split('.')[0]}/" if "." in key else "conf/config.yaml"  # a top-level key
    assert f"-S {SET_AS.get(key, key)}=" in line and f"fix it in {where} and run" in line


@pytest.mark.parametrize("key, value, message", [
    ("linear.lr", -1, r"linear\.lr must be a finite number > 0, got -1 "
                      r"\(fix it in conf/linear/ and run `make params`, or override it: "
                      r"dvc exp run -S linear\.grid\.lr=\.\.\.\)$"),
    ("linear.dtype", "float16", r"must be one of \['float32', 'float64'\]"),
    ("model", "rnn", r"model must be one of \['linear', 'mlp', 'cnn'\].*conf/config\.yaml"),
    ("cnn.channels", [8], r"cnn\.channels must be a list of two channel counts"),
    ("cnn.channels", [8, 0], r"cnn\.channels\[1\] must be"),
    ("cnn.kernel_size", 4, r"cnn\.kernel_size must be odd"),
    ("cnn.kernel_size", 29, r"cnn\.kernel_size must be an integer in 1\.\.28"),
    ("cifar10.source", "web", r"cifar10\.source must be one of"),
    ("blur.pick", "last", r"blur\.pick must be one of"),
    ("scalar.points", [[2, 4, 0]], r"scalar\.points\[0\].*z\^2 is 0.*non-zero z"),
    ("scalar.points", [[2, 4, float("nan")]], r"scalar\.points\[0\] must be three finite"),
    ("scalar.points", [], r"scalar\.points must be a non-empty list"),
    ("scalar.points", [[1, 2]], r"scalar\.points\[0\] must be three finite numbers"),
    ("scalar.points", [[1, 2, 3], [1, "a", 3]], r"scalar\.points\[1\] must be three finite"),
    ("blur.kernel", [1, 2], r"blur\.kernel must have an odd number of weights"),
    ("blur.kernel", [], r"blur\.kernel must be a non-empty list"),
    ("blur.kernel", 3, r"blur\.kernel must be a non-empty list, got 3"),
    ("blur.kernel", [1, -2, 1], r"blur\.kernel\[1\] must be a finite number >= 0"),
    ("blur.kernel", [1, math.inf, 1], r"blur\.kernel\[1\] must be a finite number"),
    ("blur.kernel", [1, "2", 1], r"blur\.kernel\[1\] must be a finite number"),
    ("blur.kernel", [0, 0, 0], r"blur\.kernel must have a positive sum"),
    ("c0.weights_sha256", "abc", r"c0\.weights_sha256 must be a SHA-256"),
    ("c0.cg.memory", 0, r"c0\.cg\.memory must be an integer >= 1"),
    ("c0.cg.separable", "yes", r"c0\.cg\.separable must be true or false"),
    ("linear.shift", 28, r"linear\.shift must be an integer in 0\.\.27"),
    ("data.root", "", r"data\.root must be a non-empty string"),
    ("data.val_fraction", 1.0, r"data\.val_fraction must be a finite number in \(0, 1\)"),
])
def test_structured_and_named_knobs(key, value, message):
    config = yaml.safe_load(yaml.safe_dump(PARAMS))
    *sections, name = key.split(".")
    target = config
    for section in sections:
        target = target[section]
    target[name] = value
    problems = config_problems(config)
    assert len(problems) == 1 and re.search(message, problems[0]), problems


def test_a_rung_whose_knob_has_no_words_is_named():
    config = yaml.safe_load(yaml.safe_dump(PARAMS))
    del config["ablation"]["change_words"]["momentum"]  # a rung of the MLP's ladder
    problems = config_problems(config)
    assert len(problems) == 1 and problems[0].startswith(
        "ablation.change_words must give words for every knob the rungs of ablation.mlp change;"
        " add ['momentum']"), problems


def test_settings_that_do_not_fit_together_are_named():
    config = yaml.safe_load(compose(ROOT, ["blur.n_images=20", "cifar10.n_images=10",
                                           "c0.kernel_size=37", "c0.padding=2"]))
    problems = config_problems(config)
    assert len(problems) == 2
    assert problems[0].startswith("blur.n_images must be at most cifar10.n_images (10")
    assert problems[1].startswith("c0.kernel_size must fit the 32x32 images plus c0.padding "
                                  "(2) on each side, i.e. be at most 36, got 37")


def test_a_point_too_large_for_the_finite_difference_step_is_named():
    config = yaml.safe_load(compose(ROOT, ["scalar.points=[[2,4,1],[1e300,1,1]]"]))
    problems = config_problems(config)
    assert len(problems) == 1 and problems[0].startswith("scalar.points[1] = [1e+300, 1, 1]: ")
    assert "-S scalar.points=..." in problems[0]


def test_every_problem_is_reported_not_only_the_first():
    config = yaml.safe_load(compose(ROOT, ["linear.epochs=0", "mlp.hidden=-3", "c0.sgd.tol=0"]))
    keys = [p.split(" ")[0] for p in config_problems(config)]
    assert keys == ["linear.epochs", "mlp.hidden", "c0.sgd.tol"]


def test_every_rule_rejects_something():
    # a rule that accepts anything would make the coverage test above vacuous
    for key, check in RULES.items():
        with pytest.raises(ValueError, match=re.escape(key)):
            check(object(), key)


# --- real stage scripts exit cleanly, before any compute ---------------------------------------

@pytest.mark.parametrize("stage, overrides, key", [
    ("sweep_point", ["model=linear", "+linear.lr=-1", "+linear.lambda=0.0"], "linear.lr"),
    ("fraction", ["model=mlp", "fraction.values=[0.5,1.5]"], "fraction.values[1]"),
    ("c0_recover", ["c0.padding=-1"], "c0.padding"),
    ("scalar_grad", ["scalar.points=[[2,4,0]]"], "scalar.points[0]"),
])
def test_a_stage_with_a_bad_knob_exits_with_one_line_and_no_traceback(tmp_path, stage, overrides,
                                                                      key):
    project = stage_project(tmp_path, [stage], PARAMS)
    shutil.copytree(ROOT / "conf", project / "conf")
    result = subprocess.run([sys.executable, f"stages/{stage}.py", *overrides], cwd=project,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{stage}: bad config: {key} ")
    assert sorted(p.name for p in Path(project).iterdir()) == ["conf", "params.yaml", "stages"]
