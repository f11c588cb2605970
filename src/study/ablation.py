"""Variants of a classifier's recipe, each measured the same way: the ablation ladder (from the
assignment's recipe as written to this study's, one change per rung) and the initialisation
study (the linear classifier's weights drawn from N(0, sigma^2), as the assignment suggests).

Every variant is trained at each candidate learning rate with the first seed and judged on
VALIDATION accuracy (ties go to the lower validation loss; a diverged run never wins), since a
variant judged at a wrong learning rate proves nothing; then retrained at its chosen learning
rate with the other seeds. A variant's record carries every seed's validation and test scores
and their mean and sample standard deviation; the test set never takes part in a choice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

import barenet as bn
from study.classify import Prepared, train_classifier
from study.io import Table
from study.pool import fork_map
from study.settings import overlaid

SEED_HEADER = ["variant", "lr", "seed", "val_accuracy", "test_accuracy", "final_train_loss"]


def ladder(rungs: Mapping[str, Mapping]) -> list[tuple[str, dict]]:
    """(name, settings) per rung, each rung's changes laid over the rungs before it."""
    settings: dict = {}
    steps = []
    for name, changes in rungs.items():
        settings = {**settings, **changes}
        steps.append((name, dict(settings)))
    return steps


def variant_records(kind: str, section: Mapping, variants: Sequence[tuple[str, dict]],
                    data_for: Callable[[bool], Prepared], lrs: Sequence[float],
                    seeds: Sequence[int], workers: int) -> list[dict]:
    """Train each (name, settings) variant of ``section`` as the module says; ``data_for``
    gives the prepared data, standardised or not (a variant's ``standardise``). One record
    per variant: name, settings, the chosen lr, validation accuracy per candidate lr (None:
    diverged), and per seed the validation and test accuracy and the last epoch's training
    loss, with means and standard deviations."""
    def run(task: tuple[int, float, int]) -> dict | None:
        index, lr, seed = task
        config = overlaid(section, {**variants[index][1], "lr": lr, "seed": seed})
        data = data_for(bool(config["standardise"]))
        model, history = train_classifier(kind, config, data, train_curves=False)
        if history.diverged:
            return None
        test = bn.evaluate(model, data.x["test"], data.y["test"])
        return {"val_accuracy": history.val_accuracy[-1], "val_loss": history.val_loss[-1],
                "test_accuracy": test.accuracy, "final_train_loss": history.train_loss[-1]}

    first, others = seeds[0], list(seeds[1:])
    scans = fork_map(run, [(i, lr, first) for i in range(len(variants)) for lr in lrs], workers)
    chosen = []
    for i in range(len(variants)):
        by_lr = dict(zip(lrs, scans[i * len(lrs):(i + 1) * len(lrs)], strict=True))
        finished = {lr: r for lr, r in by_lr.items() if r is not None}
        if not finished:
            raise RuntimeError(f"variant {variants[i][0]!r} diverged at every learning rate "
                               f"{list(lrs)}: add smaller ones")
        lr = max(finished, key=lambda v: (finished[v]["val_accuracy"], -finished[v]["val_loss"]))
        chosen.append((lr, by_lr))
    retrained = fork_map(run, [(i, lr, seed) for i, (lr, _) in enumerate(chosen)
                               for seed in others], workers)
    records = []
    for i, ((name, settings), (lr, by_lr)) in enumerate(zip(variants, chosen, strict=True)):
        runs = [by_lr[lr], *retrained[i * len(others):(i + 1) * len(others)]]
        if any(r is None for r in runs):
            raise RuntimeError(f"variant {name!r} diverged at its chosen lr {lr} with another "
                               "seed: add smaller learning rates")
        records.append({
            "variant": name, "settings": settings, "lr": lr,
            "val_accuracy_by_lr": {str(v): (r["val_accuracy"] if r else None)
                                   for v, r in by_lr.items()},
            "seeds": {str(seed): r for seed, r in zip(seeds, runs, strict=True)},
            **{f"{key}_{stat}": value for key in ("val_accuracy", "test_accuracy",
                                                  "final_train_loss")
               for stat, value in mean_and_std([r[key] for r in runs]).items()},
        })
    return records


def settings_name(settings: Mapping) -> str:
    """A rung's name from its explicit settings, e.g. "bias=true"."""
    return ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                     for k, v in settings.items())


def mean_and_std(values: Sequence[float]) -> dict[str, float]:
    """The mean and the sample standard deviation (ddof 1; 0 for one value)."""
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()),
            "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0}


def variant_outputs(name: str, records: list[dict]) -> dict:
    """``<name>.json`` (the records) and ``<name>.csv`` (one row per variant and seed, from which
    DVC's mean_stdev template draws each variant's mean and standard deviation)."""
    rows = [[r["variant"], r["lr"], int(seed), run["val_accuracy"], run["test_accuracy"],
             run["final_train_loss"]] for r in records for seed, run in r["seeds"].items()]
    return {f"{name}.json": records, f"{name}.csv": Table(SEED_HEADER, rows)}


def ablation_outputs(kind: str, section: Mapping, best: Mapping, ablation: Mapping,
                     data_for: Callable[[bool], Prepared], workers: int) -> tuple[dict, str]:
    """The ladder of ``kind``: its first rung is the assignment's recipe (``ablation[kind]
    .assignment``), which names every setting training reads but the learning rate (each rung
    chooses its own from ``ablation.lrs``) and the seed, so a setting added to a model never
    leaks into it; each further rung of ``ablation[kind].rungs`` restores one setting (a name)
    to this study's value (the sweep's choice ``best`` for a grid value, else ``section``'s) or
    sets what it names ({setting: value}). The files of reports/ablation/ and a summary."""
    spec = ablation[kind]
    rungs = {"assignment": dict(spec["assignment"])}
    for rung in spec["rungs"]:
        if isinstance(rung, str):
            changes = {rung: best[rung] if rung in section["grid"] else section[rung]}
        else:
            changes = dict(rung)
        rungs[rung if isinstance(rung, str) else settings_name(changes)] = changes
    records = variant_records(kind, {}, ladder(rungs), data_for, ablation["lrs"],
                              ablation["seeds"], workers)
    for record, changes in zip(records, rungs.values(), strict=True):
        record["changes"] = changes  # what this rung sets on top of the one before
    summary = ", ".join(f"{r['variant']} {r['test_accuracy_mean']:.4f}" for r in records)
    return variant_outputs(kind, records), summary


def sigma_outputs(section: Mapping, best: Mapping, sigma: Mapping,
                  data_for: Callable[[bool], Prepared], workers: int) -> tuple[dict, str]:
    """The linear classifier at its chosen point with each initialisation: the study's default
    (``init_std`` null, PyTorch's uniform) and W ~ N(0, s^2) for each s in ``sigma.values``, at
    the chosen learning rate, for ``sigma.seeds``. reports/sigma/'s files and a summary."""
    base = overlaid(section, {k: best[k] for k in section["grid"]})
    variants = [("uniform", {"init_std": None})]
    variants += [(f"{s:g}", {"init_std": s}) for s in sigma["values"]]
    records = variant_records("linear", base, variants, data_for, [base["lr"]], sigma["seeds"],
                              workers)
    summary = ", ".join(f"{r['variant']} {r['val_accuracy_mean']:.4f}" for r in records)
    return variant_outputs("sigma", records), summary
