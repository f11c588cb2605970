"""Every knob of the study checked before any compute.

``stage_main`` runs ``config_problems`` on the composed config (params.yaml plus command-line
overrides) before a stage's own code, so a bad value stops every stage at once with one line
per problem that names the key, the value, what is allowed and where to fix it, e.g.

    linear.epochs must be an integer >= 1, got 0 (fix it in conf/linear/default.yaml and run
    `make params`, or override it: dvc exp run -S linear.epochs=...)

never a deep NumPy traceback or a silent NaN after an hour of training. Each key has a rule in
RULES (``*`` stands for any one part of a key; tests/test_validate.py checks that every leaf of
params.yaml has a rule, so a new knob cannot slip through); a sweep grid ``<model>.grid.<k>`` is
checked value by value with the rule of ``<model>.<k>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from barenet.checks import check_non_negative, check_positive, check_positive_int, is_number
from study.data import IMAGE_SHAPE, ROLES

Check = Callable[[Any, str], None]  # raises ValueError("<key> must be ..., got ...")


def interval(low: float, high: float, *, closed_low: bool, closed_high: bool) -> Check:
    """A finite number between ``low`` and ``high``, each end included or not."""
    shown = f"{'[' if closed_low else '('}{low:g}, {high:g}{']' if closed_high else ')'}"

    def check(value, key: str) -> None:
        inside = is_number(value) and (low <= value if closed_low else low < value) and (
            value <= high if closed_high else value < high)
        if not inside:
            raise ValueError(f"{key} must be a finite number in {shown}, got {value!r}")
    return check


def integer(minimum: int, maximum: int | None = None) -> Check:
    def check(value, key: str) -> None:
        check_positive_int(value, key, minimum)
        if maximum is not None and value > maximum:
            raise ValueError(f"{key} must be an integer in {minimum}..{maximum}, got {value!r}")
    return check


def one_of(*options) -> Check:
    def check(value, key: str) -> None:
        if isinstance(value, bool) or value not in options:
            raise ValueError(f"{key} must be one of {list(options)}, got {value!r}")
    return check


def text(value, key: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} must be a non-empty string, got {value!r}")


def rung(value, key: str) -> None:
    """A ladder rung: a knob's name or a list of them (restored to the study's values) or
    {knob: value, ...}."""
    names = isinstance(value, list) and value and all(isinstance(v, str) for v in value)
    if not (isinstance(value, str) and value) and not (isinstance(value, Mapping) and value) \
            and not names:
        raise ValueError(f"{key} must be a knob's name, a list of them or a mapping of knobs "
                         f"to values, got {value!r}")


def file_name(value, key: str) -> None:
    """A file or folder name without folders (it is joined to a data root or a mirror)."""
    if not isinstance(value, str) or not value or Path(value).name != value:
        raise ValueError(f"{key} must be a file or folder name without slashes, got {value!r}")


def boolean(value, key: str) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")


def sha256_hex(value, key: str) -> None:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError(f"{key} must be a SHA-256 as 64 lower-case hex digits, got {value!r}")


def optional(check: Check) -> Check:
    """``check``, or null."""
    def check_or_null(value, key: str) -> None:
        if value is not None:
            check(value, key)
    return check_or_null


def each(check: Check, empty: bool = False) -> Check:
    """A list, non-empty unless ``empty``, whose every item passes ``check`` (named ``key[i]``
    in the error)."""
    def check_list(values, key: str) -> None:
        if not isinstance(values, Sequence) or isinstance(values, str) or not (values or empty):
            raise ValueError(f"{key} must be a {'' if empty else 'non-empty '}list, "
                             f"got {values!r}")
        for i, value in enumerate(values):
            check(value, f"{key}[{i}]")
    return check_list


def two_counts(values, key: str) -> None:
    """[c1, c2]: the CNN's two conv layers' channel counts."""
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != 2:
        raise ValueError(f"{key} must be a list of two channel counts [c1, c2], got {values!r}")
    each(integer(1))(values, key)


def odd_kernel(value, key: str) -> None:
    """A kernel size that 'same' padding (k // 2) keeps the image size with."""
    integer(1, min(IMAGE_SHAPE))(value, key)
    if value % 2 == 0:
        raise ValueError(f"{key} must be odd (padding k // 2 then keeps the image size), "
                         f"got {value!r}")


def point_xyz(value, key: str) -> None:
    """[x, y, z] of finite numbers with z^2 != 0: f divides by tanh(z^2), which is 0 there."""
    if (not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 3
            or not all(is_number(v) for v in value)):
        raise ValueError(f"{key} must be three finite numbers [x, y, z], got {value!r}")
    if float(value[2]) * float(value[2]) == 0:
        raise ValueError(f"{key} = {value!r}: z^2 is 0 in float64, so tanh(z^2) = 0 and f "
                         "divides by zero; use a non-zero z")


def blur_weights(value, key: str) -> None:
    """The 1-D weights of a separable blur kernel: an odd number of finite numbers >= 0 with a
    positive sum (so the kernel has a centre and can be normalised)."""
    each(check_non_negative)(value, key)
    if len(value) % 2 == 0:
        raise ValueError(f"{key} must have an odd number of weights so the kernel has a "
                         f"centre pixel, got {len(value)}: {value!r}")
    if not sum(value) > 0:
        raise ValueError(f"{key} must have a positive sum, got {value!r}")


def literature_row(value, key: str) -> None:
    """A published result quoted for context: {model: text, error: % in [0, 100], augmented:
    true or false}."""
    if not isinstance(value, Mapping) or set(value) != {"model", "error", "augmented"}:
        raise ValueError(f"{key} must be {{model: ..., error: ..., augmented: ...}}, "
                         f"got {value!r}")
    text(value["model"], f"{key}.model")
    interval(0, 100, closed_low=True, closed_high=True)(value["error"], f"{key}.error")
    boolean(value["augmented"], f"{key}.augmented")


PROBABILITY_LIKE = interval(0, 1, closed_low=False, closed_high=True)
MOMENTUM = interval(0, 1, closed_low=True, closed_high=False)  # 1 or more never settles
SEED = integer(0)
DTYPE = one_of("float32", "float64")
CIFAR10_TRAIN_IMAGES = 50_000
CIFAR10_SIZE = 32


def _classifier(**specific: Check) -> dict[str, Check]:
    """The knobs the linear and MLP sections share, plus their own."""
    return {"lr": check_positive, "lambda": check_non_negative, "batch_size": integer(1),
            "epochs": integer(1), "momentum": MOMENTUM, "shift": integer(0, min(IMAGE_SHAPE) - 1),
            "lr_decay": PROBABILITY_LIKE, "dtype": DTYPE, "seed": SEED,
            "final_seeds": integer(1), "standardise": boolean, "scale_pixels": boolean,
            "gradient": one_of("mean", "sum"), "l2_per": one_of("batch", "image"), **specific}


RULES: dict[str, Check] = {
    "model": one_of("linear", "mlp", "cnn"),
    "workers": integer(1),
    "paths.*": text,
    "data.name": text,
    "data.root": text,
    "data.mirror": optional(text),
    "data.val_fraction": interval(0, 1, closed_low=False, closed_high=False),
    "data.split_seed": SEED,
    # what defines the data set (_data_set_problems checks how the values fit together)
    "data.torchvision": optional(text),
    "data.folder": file_name,
    **{f"data.files.{role}.{key}": check for role in ROLES
       for key, check in (("name", file_name), ("sha256", optional(sha256_hex)))},
    "data.class_names": each(text),
    "cifar10.n_images": integer(1, CIFAR10_TRAIN_IMAGES),
    "cifar10.seed": SEED,
    "cifar10.source": one_of("auto", "official", "mirror"),
    **{f"linear.{k}": check for k, check in _classifier(
        bias=boolean, init_std=optional(check_non_negative)).items()},
    **{f"mlp.{k}": check for k, check in _classifier(
        hidden=integer(1), init_std=optional(check_non_negative)).items()},
    **{f"cnn.{k}": check for k, check in _classifier(
        channels=two_counts, kernel_size=odd_kernel).items()},
    "sklearn.C": each(check_positive),
    "sklearn.max_iter": integer(1),
    "sklearn.tol": check_positive,
    "sklearn.dtype": DTYPE,
    "fraction.values": each(PROBABILITY_LIKE),
    "fraction.seeds": each(SEED),
    "scalar.points": each(point_xyz),
    "scalar.fd_step": interval(0, 1, closed_low=False, closed_high=False),
    "module_grad.seed": SEED,
    "module_grad.conv_cases": integer(1),
    "module_grad.fd_step": interval(0, 1, closed_low=False, closed_high=False),
    "blur.kernel": blur_weights,
    "blur.n_images": integer(1),
    "blur.pick": one_of("per_class", "first"),
    "c0.weights": optional(text),
    "c0.weights_sha256": optional(sha256_hex),
    "c0.weights_description": text,
    "c0.out_channels": integer(1),
    "c0.kernel_size": integer(1),
    "c0.padding": integer(0),
    "c0.init_seed": SEED,
    "c0.sgd.lr": check_positive,
    "c0.sgd.momentum": MOMENTUM,
    "c0.sgd.batch_size": integer(1),
    "c0.sgd.max_epochs": integer(1),
    "c0.sgd.tol": check_positive,
    "c0.sgd.check_every": integer(1),
    "c0.sgd.seed": SEED,
    "c0.gd.passes": integer(1),
    "c0.gd.check_every": integer(1),
    "c0.cg.tol": check_positive,
    "c0.cg.max_iter": integer(1),
    "c0.cg.memory": optional(integer(1)),
    "c0.cg.separable": boolean,
    "c0.original.lr": check_positive,
    "c0.original.batch_size": integer(1),
    "c0.original.epochs": integer(1),
    "c0.original.seeds": each(SEED),
    "c0.original.extended_epochs": integer(1),
    "c0.original.check_every": integer(1),
    "ablation.seeds": each(SEED),
    "ablation.change_words.*": text,
    # _relations checks they name knobs of the model
    **{f"ablation.{m}.{part}": each(rung, empty=part == "beyond") for m in ("linear", "mlp")
       for part in ("rungs", "beyond")},
    # the replication of the original attempt (conf/replicate)
    "replicate.seeds": each(SEED),
    "replicate.dtype": DTYPE,
    "replicate.split.test_size": interval(0, 1, closed_low=False, closed_high=False),
    "replicate.split.random_state": SEED,
    "replicate.linear.init_std": check_non_negative,
    "replicate.linear.batch_size": integer(1),
    **{f"replicate.linear.{part}.{key}": check for part in ("defaults", "candidates.*",
                                                            "fractions")
       for key, check in (("lr", check_positive), ("lambda", check_non_negative),
                          ("epochs", integer(1)))},
    "replicate.linear.sweep.lrs": each(check_positive),
    "replicate.linear.sweep.lambdas": each(check_non_negative),
    "replicate.linear.sweep.epochs": integer(1),
    "replicate.linear.sweep.size": integer(1),
    "replicate.linear.sweep.other_sizes": each(integer(1), empty=True),
    "replicate.linear.final_recipe": text,  # _relations: one of the candidates
    "replicate.linear.candidates.*.about": text,
    "replicate.linear.candidates.*.start": one_of("fresh", "swept"),
    "replicate.linear.fractions.shares": each(PROBABILITY_LIKE),
    "replicate.mlp.hidden": integer(1),
    "replicate.mlp.init_std": check_non_negative,
    "replicate.mlp.lr": check_positive,
    "replicate.mlp.batch_size": integer(1),
    "replicate.mlp.epochs": integer(1),
    "replicate.mlp.fractions.shares": each(PROBABILITY_LIKE),
    "replicate.mlp.observations.*.batch_size": integer(1),
    "replicate.mlp.observations.*.scale": check_positive,  # what the pixels are divided by
    "replicate.mlp.observations.*.epochs": integer(1),
    "replicate.mlp.observations.*.lr": check_positive,
    "replicate.sklearn.run": boolean,
    "replicate.original.*": check_non_negative,  # the original's printed numbers
    **{f"replicate.original.{key}": each(check_non_negative)
       for key in ("linear_sweep_val_accuracy", "linear_sweep_val_loss")},
    "sigma.values": each(check_non_negative),
    "sigma.seeds": each(SEED),
    "report.literature": each(literature_row),
    "report.literature_source": text,
    "report.original.*": check_non_negative,  # the original attempt's results, as quoted
    **{f"report.original.{key}": each(check_non_negative)
       for key in ("fraction_shares", "linear_fraction_accuracy", "mlp_fraction_accuracy")},
}
# what the ladder itself sets on every rung (seed: ablation.seeds) or never reads (final_seeds)
LADDER_CHOOSES = {"seed", "final_seeds"}
GRID = re.compile(r"(?P<model>linear|mlp|cnn)\.grid\.(?P<knob>\w+)")
# a ladder's first rung sets knobs of the model: each is checked by the model knob's own rule
RUNG = re.compile(r"ablation\.(?P<model>linear|mlp)\.original\.(?P<knob>\w+)")
PATTERNS = {re.compile(re.escape(key).replace(r"\*", r"[^.]+")): check
            for key, check in RULES.items() if "*" in key}


def rule_for(key: str) -> Check | None:
    """The check of a dotted key, or None if the study has no such setting."""
    if key in RULES:
        return RULES[key]
    for pattern, check in PATTERNS.items():
        if pattern.fullmatch(key):
            return check
    grid = GRID.fullmatch(key)
    knob = grid and f"{grid['model']}.{grid['knob']}"
    if knob in RULES:
        return each(RULES[knob])
    rung = RUNG.fullmatch(key)
    knob = rung and f"{rung['model']}.{rung['knob']}"
    return RULES.get(knob) if knob else None


def _relations(cfg: Mapping) -> list[tuple[str, str]]:
    """(key, problem) for settings that are each fine but do not fit together."""
    problems = []
    blur, cifar10, c0, scalar = (cfg.get(name) if isinstance(cfg.get(name), Mapping) else {}
                                 for name in ("blur", "cifar10", "c0", "scalar"))
    if is_number(blur.get("n_images")) and is_number(cifar10.get("n_images")) \
            and blur["n_images"] > cifar10["n_images"]:
        problems.append(("blur.n_images", f"blur.n_images must be at most cifar10.n_images "
                         f"({cifar10['n_images']}, the prepared images), got {blur['n_images']}"))
    points, step = scalar.get("points"), scalar.get("fd_step")
    if isinstance(points, Sequence) and is_number(step) and step > 0:
        for i, point in enumerate(points):
            if isinstance(point, Sequence) and any(
                    is_number(v) and float(v) + step == float(v) - step for v in point):
                problems.append((f"scalar.points[{i}]", f"scalar.points[{i}] = {point!r}: a "
                                 f"coordinate so large that +- scalar.fd_step ({step:g}) rounds "
                                 "to itself in float64, so finite differences cannot check the "
                                 "gradient there; use smaller coordinates or a larger step"))
    kernel, padding = c0.get("kernel_size"), c0.get("padding")
    if is_number(kernel) and is_number(padding) and kernel > CIFAR10_SIZE + 2 * padding:
        problems.append(("c0.kernel_size", f"c0.kernel_size must fit the {CIFAR10_SIZE}x"
                         f"{CIFAR10_SIZE} images plus c0.padding ({padding}) on each side, "
                         f"i.e. be at most {CIFAR10_SIZE + 2 * padding}, got {kernel}"))
    ablation = cfg.get("ablation") if isinstance(cfg.get("ablation"), Mapping) else {}
    for model in ("linear", "mlp"):
        ladder, section = ablation.get(model), cfg.get(model)
        if not (isinstance(ladder, Mapping) and isinstance(section, Mapping)):
            continue
        grid = section.get("grid") if isinstance(section.get("grid"), Mapping) else {}
        knobs = set(section) - {"grid"} | set(grid)
        named = [k for part in ("rungs", "beyond") for r in ladder.get(part) or []
                 for k in ([r] if isinstance(r, str) else r)]
        recipe = ladder.get("original") if isinstance(ladder.get("original"), Mapping) else {}
        unknown = [k for k in named + list(recipe) if k not in knobs]
        if unknown:
            problems.append((f"ablation.{model}", f"ablation.{model} names {unknown}, which are "
                             f"not knobs of {model} (its knobs: {sorted(knobs)})"))
        words = ablation.get("change_words")
        wordless = sorted({k for k in named if k not in (words or {})})
        if isinstance(words, Mapping | None) and wordless:
            problems.append(("ablation.change_words", f"ablation.change_words must give words "
                             f"for every knob the rungs of ablation.{model} change; add "
                             f"{wordless}"))
        # the first rung is a whole recipe: a knob added to the model must be given the
        # original's value there, or it would silently take the study's value
        unnamed = sorted(knobs - set(recipe) - LADDER_CHOOSES)
        if unnamed:
            problems.append((f"ablation.{model}.original", f"ablation.{model}.original must "
                             f"name every knob of {model} but {sorted(LADDER_CHOOSES)}; add "
                             f"{unnamed} with the original attempt's values"))
    linear = (cfg.get("replicate") or {}).get("linear") if isinstance(cfg.get("replicate"),
                                                                        Mapping) else None
    if isinstance(linear, Mapping) and isinstance(linear.get("candidates"), Mapping) \
            and linear.get("final_recipe") not in linear["candidates"]:
        problems.append(("replicate.linear.final_recipe", "replicate.linear.final_recipe must "
                         f"name one of replicate.linear.candidates {sorted(linear['candidates'])}"
                         f", got {linear.get('final_recipe')!r}"))
    for model in ("linear", "mlp", "cnn"):
        section = cfg.get(model) if isinstance(cfg.get(model), Mapping) else {}
        if section.get("standardise") is True and section.get("scale_pixels") is False:
            problems.append((f"{model}.scale_pixels", f"{model}.standardise needs scaled pixels: "
                             f"set {model}.scale_pixels true or {model}.standardise false"))
    return problems + _data_set_problems(cfg.get("data"))


def _data_set_problems(data) -> list[tuple[str, str]]:
    """How the values defining the classification data set fit together (each value alone is
    checked by its rule)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("files"), Mapping):
        return []  # absent settings are not required here; a non-mapping fails its own rules
    files = data["files"]
    missing = [r for r in ROLES if r not in files]
    unexpected = [r for r in files if r not in ROLES]
    if missing or unexpected:
        return [("data.files", f"data.files must name exactly the four IDX files {list(ROLES)}; "
                 f"missing {missing}, unexpected {unexpected}")]
    problems = []
    names = [files[r].get("name") if isinstance(files[r], Mapping) else None for r in ROLES]
    if len(set(names)) != len(names):
        problems.append(("data.files", f"data.files names the same file twice "
                         f"({dict(zip(ROLES, names, strict=True))}): each role needs its own file"))
    class_names = data.get("class_names")
    if isinstance(class_names, Sequence) and len(set(map(str, class_names))) < max(
            2, len(class_names)):
        problems.append(("data.class_names", f"data.class_names must list at least two distinct "
                         f"names, the name of label 0 first; got {list(class_names)}"))
    folder, torchvision = data.get("folder"), data.get("torchvision")
    if torchvision is not None and torchvision != folder:
        problems.append(("data.torchvision", f"data.torchvision {torchvision!r} downloads into "
                         f"<root>/{torchvision}/raw, but data.folder is {folder!r}: set "
                         f"data.folder to {torchvision!r}"))
    return problems


def leaves(cfg: Mapping, prefix: str = "") -> dict[str, Any]:
    """Every setting by dotted key; a list is one setting (a grid, the points, a kernel)."""
    out = {}
    for name, value in cfg.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            out.update(leaves(value, f"{key}."))
        else:
            out[key] = value
    return out


def config_problems(cfg: Mapping) -> list[str]:
    """One line per bad or mismatched setting in ``cfg`` (a plain, resolved dict), each naming
    the key, the value, what is allowed and where to fix it; empty if all is well. Settings
    absent from ``cfg`` are not required here (a stage reads what it needs), and a key with no
    rule is left to its stage (Hydra already refuses a misspelt override without ``+``)."""
    problems = []
    for key, value in leaves(cfg).items():
        check = rule_for(key)
        try:
            if check is not None:
                check(value, key)
        except ValueError as exc:
            problems.append(f"{exc} ({fix_hint(key, cfg)})")
    return problems + [f"{problem} ({fix_hint(key, cfg)})" for key, problem in _relations(cfg)]


def fix_hint(key: str, cfg: Mapping) -> str:
    """Where a person sets ``key``: its config group's file under conf/ (the option that
    conf/config.yaml selects), or the command line."""
    key = re.sub(r"\[\d+\]$", "", key)  # a list is overridden whole
    group, _, leaf = key.partition(".")
    grid = cfg.get(group, {}).get("grid") if isinstance(cfg.get(group), Mapping) else None
    if isinstance(grid, Mapping) and leaf in grid:  # a sweep point's value comes from its grid
        key = f"{group}.grid.{leaf}"
    where = f"conf/{group}/" if leaf else "conf/config.yaml"
    return f"fix it in {where} and run `make params`, or override it: dvc exp run -S {key}=..."
