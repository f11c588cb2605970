"""Where the study's outputs live: the one module that names a file under the reports folder for
those who read it (the CI gate study.bars, the report's study.results, the tests). ``reports``
is that folder as conf/paths names it (params.yaml's ``paths.reports``). The stages write these
files and dvc.yaml declares them through ${paths.reports}; tests/test_layout.py holds every
path named here to an output dvc.yaml declares, and fails on a literal reports/... path
anywhere else in the code. The final models' files live in their own folder, ``models``
(``paths.models``), DVC-cached rather than committed."""

from __future__ import annotations

CLASSIFIERS = ("linear", "mlp", "cnn")
MODELS = ("linear", "mlp")  # the assignment's two classifiers: sweeps, fractions, ladders
DATA_SETS = ("idx", "cifar10")
FIGURES = "figures"  # beside report.md, which links them as figures/<id>.png


def output(reports: str, name: str, file: str) -> str:
    """A file of a classifier (``name`` in CLASSIFIERS: metrics.json, info.json, best.json,
    curves.csv, per_class.csv, confusion.csv, predictions.csv, heatmap.json, sweep.csv, sweep.md,
    fraction.json, fraction.csv, weights.png, mistakes.png) or of another experiment
    (sklearn, scalar, module_grad, blur, c0)."""
    return f"{reports}/{name}/{file}"


def model_file(models: str, name: str) -> str:
    """The final model file of classifier ``name`` (in CLASSIFIERS), barenet's .npz format."""
    return f"{models}/{name}.npz"


def sweep_points(reports: str, model: str) -> str:
    """The folder of a sweep's points, one JSON each."""
    return f"{reports}/{model}/sweep"


def data_set(reports: str, name: str) -> str:
    """What a prepare stage recorded of a data set (``name`` in DATA_SETS)."""
    return f"{reports}/data/{name}.json"


def ablation(reports: str, model: str, suffix: str) -> str:
    """A model's ablation ladder, .json (every rung) or .csv (a row per rung and seed)."""
    return f"{reports}/ablation/{model}{suffix}"


def sigma(reports: str, suffix: str) -> str:
    """The initialisation study, .json or .csv."""
    return f"{reports}/sigma/sigma{suffix}"


def report(reports: str) -> str:
    return f"{reports}/report.md"


def appendix(reports: str) -> str:
    """The report's appendix: every table and figure the main text leaves out."""
    return f"{reports}/appendix.md"


def figures(reports: str) -> str:
    """The report's figures, one PNG per data plot of dvc.yaml."""
    return f"{reports}/{FIGURES}"
