"""Shared test helpers (imported as ``from helpers import ...``; tests/ is on sys.path)."""

import dataclasses
import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from study.data import MIRROR_ENV

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
PATHS = PARAMS["paths"]  # where the stages read and write
REPORTS = PATHS["reports"]  # the reports folder: study.layout names the files in it
MIRROR = Path(os.environ.get(MIRROR_ENV) or ROOT.parent / "shared" / "data")
needs_mirror = pytest.mark.skipif(not (MIRROR / "MNIST" / "raw").is_dir(),
                                  reason=f"needs the data mirror ({MIRROR_ENV} or ../shared/data)")
# the tiny study's changes to conf/: written into the scratch repo's conf/, so `dvc exp run`
# (which recomposes conf/) stays tiny too. MLPs of 20 hidden units (the fewest the weights
# figure draws) halve the cost of every MLP stage, which the suite re-runs a dozen times.
TINY_HIDDEN = {"hidden": 20}
# The tiny study trains and tests on the first images of the real MNIST files (mnist_head),
# 10,000 of the training file's 60,000 (8,000 train, 2,000 validation) and 2,000 of the test
# file's 10,000: every classification stage reads a sixth of the data, and those stages run
# again in nearly every pipeline test. One epoch of the linear classifier still learns them.
TINY_MNIST = {"train": 10_000, "test": 2_000}
# The ablation ladders with conf/ablation's rungs merged into fewer, in their order: every
# kind of rung is still there (a knob alone, a list of knobs, a mapping; the "dtype" rung the
# report names; a rung whose change cannot be undone alone, scale_pixels; the linear "beyond"
# rung), but each ablation run trains 9 (linear) and 7 (MLP) recipes per seed instead of 20
# and 21: ablation@<model> runs again in every experiment that changes its model's section,
# about a dozen times per suite.
TINY_LADDER = {
    "linear": [["scale_pixels", "l2_per"], "dtype",
               {"gradient": "mean", "lr": 0.064, "lambda": 0.00015625},
               ["init_std", "lr", "lambda", "epochs", "standardise", "lr_decay"]],
    "mlp": ["dtype", {"gradient": "mean", "lr": 0.64},
            ["init_std", "lr", "batch_size", "epochs", "lambda", "momentum", "lr_decay", "shift",
             "standardise"]]}
TINY = {"linear/default.yaml": {"epochs": 1, "final_seeds": 2,
                               "grid": {"lr": [0.1, 0.01], "lambda": [0.0]}},
        "mlp/default.yaml": {"epochs": 1, "final_seeds": 2, **TINY_HIDDEN,
                            "grid": {"lr": [0.05], "batch_size": [128]}},
        "cnn/default.yaml": {"epochs": 1, "channels": [2, 4], "final_seeds": 2},
        "ablation/default.yaml": {"seeds": [0, 1], "linear": {"original": {"epochs": 1},
                                                         "rungs": TINY_LADDER["linear"]},
                                  "mlp": {"original": {"epochs": 1, **TINY_HIDDEN},
                                          "rungs": TINY_LADDER["mlp"]}},
        "replicate/default.yaml": {
            "seeds": [0, 1], "sklearn": {"run": False},
            "linear": {"defaults": {"epochs": 1}, "sweep": {"epochs": 1, "other_sizes": []},
                       "candidates": {name: {"epochs": 1} for name in (
                           "fresh_defaults", "swept_then_defaults", "fresh_lowest_val_loss_point",
                           "fresh_chosen_10", "fresh_chosen_20", "swept_then_chosen_10")},
                       "fractions": {"epochs": 1}},
            "mlp": {"epochs": 1, **TINY_HIDDEN, "observations": {name: {"epochs": 1} for name in (
                "raw_pixels", "large_batch", "large_batch_mean_step", "batch64_lr10x")}}},
        "sigma/default.yaml": {"values": [0.001]},
        "fraction/default.yaml": {"values": [0.5, 1.0], "seeds": [0]},
        "sklearn/default.yaml": {"max_iter": 5},
        "cifar10/default.yaml": {"n_images": 4},
        "blur/default.yaml": {"n_images": 2},
        "c0/default.yaml": {"sgd": {"max_epochs": 3}, "gd": {"passes": 3},
                            "original": {"epochs": 2, "seeds": [0, 1], "extended_epochs": 3}}}


@functools.cache
def _composed(overrides: tuple[str, ...]) -> str:
    from study.params import compose

    return compose(ROOT, list(overrides))


def composed(*overrides: str) -> dict:
    """The configuration conf/ composes with Hydra ``overrides`` ("linear.epochs=2"), as the
    plain dict a stage reads: tests take their settings from here, so a new required setting
    needs no hidden default in the code."""
    return yaml.safe_load(_composed(overrides))


def section(model: str, **changes) -> dict:
    """The composed ``model`` section with ``changes`` laid over it; a ``grid`` in ``changes``
    replaces the section's whole (its keys are the knobs a sweep varies)."""
    return {**composed()[model], **changes}


def idx_bytes(array) -> bytes:
    """A uint8 array in the IDX format of MNIST's files: 00 00 08 <ndim>, each dimension as a
    big-endian int32, then the bytes in C order."""
    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def write_idx_dataset(raw: Path, file_names, n_classes: int, n_train: int, n_test: int,
                      seed: int = 0) -> None:
    """The four IDX files (``file_names`` in study.data.ROLES order) of a small, learnable data
    set in MNIST's format, written to ``raw``: 28x28 uint8 images in which class c lights up
    row band c (plus noise), labels cycling through every class."""
    import numpy as np

    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True, exist_ok=True)
    names = iter(file_names)
    for n in (n_train, n_test):
        labels = np.arange(n) % n_classes
        (raw / next(names)).write_bytes(idx_bytes(banded_images(labels, n_classes, rng)))
        (raw / next(names)).write_bytes(idx_bytes(labels))


def banded_images(labels, n_classes: int, rng):
    """uint8 (N, 28, 28) images, easy to learn: the image of class c lights up row band c of
    28 // n_classes rows, over noise."""
    import numpy as np

    band = 28 // n_classes
    images = rng.integers(0, 60, (len(labels), 28, 28))
    for i, label in enumerate(labels):
        images[i, label * band:(label + 1) * band] += 180
    return images.astype(np.uint8)


def write_prepared_idx(folder: Path, n_train: int = 300, n_val: int = 100, n_test: int = 100,
                       seed: int = 0) -> None:
    """What prepare_idx writes (x/y_{train,val,test}.npy, meta.json), for a small, learnable
    10-class data set (``banded_images``), so training stages run in a scratch project in
    seconds."""
    import numpy as np

    from study.data import train_pixel_statistics
    from study.io import save_npy, write_json

    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        images = banded_images(labels, 10, rng)
        save_npy(folder / f"x_{split}.npy", images)
        save_npy(folder / f"y_{split}.npy", labels)
        if split == "train":
            statistics = train_pixel_statistics(images)
    write_json(folder / "meta.json", {"class_names": [str(c) for c in range(10)],
                                      "train_pixels": statistics})


def stage_project(root: Path, stages, params: dict) -> Path:
    """A scratch project in ``root``: copies of stages/<name>.py for each of ``stages`` and a
    params.yaml holding the project's params.yaml with ``params`` merged in (``merged``), as a
    stage run by DVC sees them (cwd = project root)."""
    (root / "stages").mkdir(parents=True, exist_ok=True)
    for name in stages:
        (root / "stages" / f"{name}.py").write_text((ROOT / "stages" / f"{name}.py").read_text())
    (root / "params.yaml").write_text(yaml.safe_dump(merged(PARAMS, params), sort_keys=False))
    return root


def merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` applied, nested dicts merged key by key."""
    return {**base, **{k: merged(base[k], v) if isinstance(v, dict) and isinstance(
        base.get(k), dict) else v for k, v in changes.items()}}


def run(repo: Path, *args: str, check: bool = True, mirror: Path = MIRROR,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``args`` run in the project ``repo`` (in ``project_env``, plus ``env``); an
    AssertionError with both outputs if it fails and ``check``. The outputs go through files,
    not pipes: a pipe's reader waits for every process holding it, and the workers that
    `dvc exp run --run-all` starts keep it for about 15 s after the command has returned."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        code = subprocess.run(args, cwd=repo, env={**project_env(mirror, repo), **(env or {})},
                              stdout=out, stderr=err, timeout=600).returncode
        out.seek(0), err.seek(0)
        result = subprocess.CompletedProcess(args, code, out.read(), err.read())
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def project_env(mirror: Path = MIRROR, repo: Path | None = None) -> dict[str, str]:
    """The venv's tools first on PATH, the data mirror and a git identity; and given the
    project ``repo``, its own src/ first on the import path, so its stages run the code DVC
    hashed as their dependency (not this checkout's src/, which may have changed since).
    Python writes bytecode there as on a user's machine (PYTHONDONTWRITEBYTECODE, which some
    machines set, is dropped): stages start faster, and DVC must ignore it (.dvcignore)."""
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
           MIRROR_ENV: str(mirror),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    if repo is not None:
        env["PYTHONPATH"] = str(Path(repo).resolve() / "src")
    return env


def mnist_head(repo: Path) -> None:
    """The tiny study's MNIST: the first TINY_MNIST images and labels of each of the real
    mirror's four files, written as IDX files where prepare_idx looks first (<data.root>/MNIST/
    raw/, git-ignored), and conf/data/mnist.yaml pinning their SHA-256s."""
    import hashlib

    from study.data import read_idx

    path = repo / "conf" / "data" / "mnist.yaml"
    data = yaml.safe_load(path.read_text())
    raw = repo / data["root"] / data["folder"] / "raw"
    raw.mkdir(parents=True)
    for role, file in data["files"].items():
        images = read_idx(MIRROR / data["folder"] / "raw" / file["name"])
        content = idx_bytes(images[:TINY_MNIST[role.split("_")[0]]])
        (raw / file["name"]).write_bytes(content)
        file["sha256"] = hashlib.sha256(content).hexdigest()
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def tiny_study(repo: Path, whole_mnist: bool = False) -> Path:
    """The real dvc.yaml, stages, src and conf/ (shrunk by TINY, params.yaml composed from it)
    and the benchmark figures the report quotes, committed to a new git repo at ``repo``;
    nothing run yet. Its MNIST is the head of the real files (mnist_head), unless
    ``whole_mnist``: then prepare_idx fetches the whole of them from the mirror."""
    from study.params import compose

    for item in ("dvc.yaml", "conf", "stages", "src", "README.md", "benchmarks/results.json",
                 ".dvc/config",
                 ".dvc/.gitignore", ".dvc/plots", ".dvcignore", ".gitignore"):
        source, target = ROOT / item, repo / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    for name, changes in TINY.items():
        path = repo / "conf" / name
        settings = merged(yaml.safe_load(path.read_text()), changes)
        path.write_text(yaml.safe_dump(settings, sort_keys=False))
    if not whole_mnist:
        mnist_head(repo)
    (repo / "params.yaml").write_text(compose(repo))
    run(repo, "git", "init", "-q")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "tiny study")
    return repo


def report_file(name: str, file: str) -> str:
    """``file`` of classifier or experiment ``name`` in the reports folder (study.layout)."""
    from study import layout

    return layout.output(REPORTS, name, file)


@functools.cache  # two test modules read it at collection: one DVC index load per worker
def dvc_stages(root: Path = ROOT) -> dict[str, dict]:
    """dvc.yaml's stages as DVC expands them (foreach, matrix, templating): by name, the
    command, the deps' paths and the params (dotted keys of params.yaml). Shared: read it,
    never change it."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {stage.addressing: {
            "cmd": stage.cmd,
            "deps": [str(Path(d.def_path)) for d in stage.deps],
            "params": [key for d in stage.deps if isinstance(d, ParamsDependency)
                       for key in d.params]} for stage in repo.index.stages}


def settings_log(repo: Path) -> Path:
    """Where the settings the stages of ``repo`` read are logged (study.settings), beside the
    repo rather than in it, so DVC never sees the file."""
    return repo.with_name(f"{repo.name}-settings-read.tsv")


def write_image_folder(mirror: Path, classes, per_class: int = 2, size: int = 32) -> None:
    """A CIFAR-10-style image-folder mirror, <mirror>/cifar10-jpg/train/<class>/NNNN.png, of
    flat size x size RGB images, one shade per image."""
    import numpy as np
    from PIL import Image

    for c in classes:
        folder = mirror / "cifar10-jpg" / "train" / c
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((size, size, 3), 10 * i + len(c), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:04d}.png")


def copy_project(source: Path, target: Path) -> Path:
    """A copy of the project at ``source`` (git repo, DVC cache, workspace) at ``target``, for
    a test module that changes it; cheaper than running the pipeline again."""
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    return target


def file_bytes(root: Path, paths) -> dict[str, bytes]:
    """The content of each of ``paths`` (relative to ``root``) that is a file, and of every file
    under each that is a directory, by path relative to ``root``."""
    found = {}
    for path in paths:
        top = root / path
        for file in [top] if top.is_file() else sorted(top.rglob("*")):
            if file.is_file():
                found[file.relative_to(root).as_posix()] = file.read_bytes()
    return found


def differences(before: dict[str, bytes], after: dict[str, bytes]) -> str:
    """Each path whose bytes differ between two ``file_bytes`` results, with a unified diff
    of text files; empty if none."""
    import difflib

    report = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        if old is None or new is None:
            report.append(f"{path}: only {'after' if old is None else 'before'}")
            continue
        try:
            lines = difflib.unified_diff(old.decode().splitlines(), new.decode().splitlines(),
                                         f"{path} before", f"{path} after", lineterm="")
            report.append("\n".join(lines))
        except UnicodeDecodeError:
            report.append(f"{path}: binary content differs")
    return "\n".join(report)


# A README shell block is run by tests/test_readme.py unless the line before it is a mark:
# <!-- run by <file> --> (another test or .ci/run runs it; <!-- run by <file>: <which> --> when
# it runs several) or <!-- not run by the tests: why -->
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
README_PLACEHOLDERS = {"/path/to/mirror": str(MIRROR)}  # what they stand for in those runs
README_MARK = re.compile(r"<!--\s*(.*?)\s*-->")


@dataclasses.dataclass(frozen=True)
class ReadmeBlock:
    line: int          # the line of its opening fence, counting from 1
    mark: str | None   # the mark's text, or None: tests/test_readme.py runs it
    code: str

    def commands(self) -> list[list[str]]:
        """Each command of the block as its arguments (continuation lines joined, comments
        dropped)."""
        joined = self.code.replace("\\\n", " ")
        return [args for line in joined.splitlines()
                if (args := shlex.split(line, comments=True))]


def readme_blocks(readme: Path = ROOT / "README.md") -> list[ReadmeBlock]:
    """Every fenced shell block of the README, in order."""
    lines, blocks, i = readme.read_text().splitlines(), [], 0
    while i < len(lines):
        fence = re.fullmatch(r"```(\w*)", lines[i].strip())
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        if fence.group(1) in SHELL_LANGUAGES:
            before = next((line for line in reversed(lines[:i]) if line.strip()), "")
            mark = README_MARK.fullmatch(before.strip())
            blocks.append(ReadmeBlock(i + 1, mark and mark.group(1),
                                      "\n".join(lines[i + 1:end]) + "\n"))
        i = end + 1
    return blocks


def readme_block(mark: str) -> ReadmeBlock:
    """The one README shell block with this mark."""
    (block,) = [block for block in readme_blocks() if block.mark == mark]
    return block


def models_versus_reports(repo: Path) -> dict[str, list[str]]:
    """Each final model file of the project ``repo`` loaded (study.classify.load_classifier) and
    scored on its prepared test split, against what its reports say: per classifier, every
    disagreement (its test accuracy and loss not exactly metrics.json's, a prediction not
    predictions.csv's, its preprocessing not info.json's); an empty list when it scores as
    reported."""
    import csv
    import json

    import barenet as bn
    from study import layout
    from study.classify import load_classifier, load_prepared

    found = {}
    for name in layout.CLASSIFIERS:
        model, settings = load_classifier(repo / layout.model_file(PATHS["models"], name), name)
        section = settings["section"]
        data = load_prepared(repo / PATHS["idx"], section["dtype"], section["standardise"],
                             section["scale_pixels"])
        test = bn.evaluate(model, data.x["test"], data.y["test"])
        predicted = bn.train.predict_scores(model, data.x["test"]).argmax(axis=1)
        metrics = json.loads((repo / layout.output(REPORTS, name, "metrics.json")).read_text())
        info = json.loads((repo / layout.output(REPORTS, name, "info.json")).read_text())
        with open(repo / layout.output(REPORTS, name, "predictions.csv"), newline="") as file:
            reported = [(row["actual"], row["predicted"]) for row in csv.DictReader(file)]
        names = settings["class_names"]
        problems = [f"{key} {mine!r}, reported {theirs!r}" for key, mine, theirs in (
            ("test accuracy", test.accuracy, metrics["test"]["accuracy"]),
            ("test loss", test.loss, metrics["test"]["loss"]),
            ("class names", names, info["class_names"]),
            ("preprocessing", settings["preprocessing"], info["preprocessing"]),
            ("test images", len(predicted), len(reported))) if mine != theirs]
        problems += [f"test image {i}: predicts {names[p]}, reported {reported[i]}"
                     for i, (a, p) in enumerate(zip(data.y["test"], predicted, strict=False))
                     if i < len(reported) and reported[i] != (names[a], names[p])][:5]
        found[name] = problems
    return found
