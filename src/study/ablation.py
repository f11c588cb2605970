"""Variants of a classifier's recipe: the ablation ladder (from the original attempt's recipe
to this study's, one change per rung, every rung over the same seeds, and the leave-one-out) and
the initialisation study (the linear classifier's weights drawn from N(0, sigma^2), as the
assignment suggests).

An initialisation variant is trained at each candidate learning rate with the first seed and
judged on VALIDATION accuracy (ties go to the lower validation loss; a diverged run never
wins), then retrained at its chosen learning rate with the other seeds. A variant's record
carries every seed's validation and test scores and their mean and sample standard deviation;
the test set never takes part in a choice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

import barenet as bn
from study.classify import Prepared, train_classifier
from study.io import Table
from study.pool import fork_map
from study.settings import overlaid
from study.stats import UPPER_95, t_quantile

Inputs = tuple[str, bool, bool]  # the prepared data a run reads: (dtype, standardise, scale_pixels)
SEED_HEADER = ["variant", "lr", "seed", "val_accuracy", "test_accuracy", "final_train_loss"]


def inputs_of(config: Mapping) -> Inputs:
    """The prepared data a run of ``config`` reads, in its own dtype."""
    return str(config["dtype"]), bool(config["standardise"]), bool(config["scale_pixels"])


def prepared(data_for: Callable[[Inputs], Prepared], configs: Sequence[Mapping]) -> None:
    """Load every input the ``configs`` read before the workers fork, so that they share it
    (``data_for`` caches) instead of each loading its own."""
    for key in dict.fromkeys(inputs_of(config) for config in configs):
        data_for(key)


def variant_records(kind: str, section: Mapping, variants: Sequence[tuple[str, dict]],
                    data_for: Callable[[Inputs], Prepared], lrs: Sequence[float],
                    seeds: Sequence[int], workers: int) -> list[dict]:
    """Train each (name, settings) variant of ``section`` as the module says; ``data_for``
    gives (and caches) the prepared data a run reads (``inputs_of``). One record
    per variant: name, settings, the chosen lr, validation accuracy per candidate lr (None:
    diverged), and per seed the validation and test accuracy and the last epoch's training
    loss, with means and standard deviations."""
    def run(task: tuple[int, float, int]) -> dict | None:
        index, lr, seed = task
        config = overlaid(section, {**variants[index][1], "lr": lr, "seed": seed})
        data = data_for(inputs_of(config))
        model, history = train_classifier(kind, config, data, train_curves=False)
        if history.diverged:
            return None
        test = bn.evaluate(model, data.x["test"], data.y["test"])
        return {"val_accuracy": history.val_accuracy[-1], "val_loss": history.val_loss[-1],
                "test_accuracy": test.accuracy, "final_train_loss": history.train_loss[-1]}

    first, others = seeds[0], list(seeds[1:])
    prepared(data_for, [overlaid(section, settings) for _, settings in variants])
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


# --- the ladder: from the original attempt's recipe to this study's, paired over seeds ---------

LADDER_HEADER = ["rung", "seed", "val_accuracy", "test_accuracy"]
# per rung, test accuracy in percent: the mean before and after it and the 95% interval of the
# paired change around the level after it (.dvc/plots/waterfall.json draws it)
WATERFALL_HEADER = ["rung", "start", "end", "low", "high"]


def rung_name(rung) -> str:
    """A rung of conf/ablation named by what it changes: "scale_pixels", "lr, lambda",
    "gradient=mean, lr=0.064"."""
    if isinstance(rung, str):
        return rung
    if isinstance(rung, Mapping):
        return settings_name(rung)
    return ", ".join(rung)


def rung_words(changes: Mapping, words: Mapping[str, str]) -> str:
    """A rung in words: its knobs' words (conf/ablation change_words), joined by " + "."""
    return " + ".join(words[k] for k in changes)


def rung_changes(rung, section: Mapping, best: Mapping) -> dict:
    """What a rung sets: a knob name (or a list of them) restores the study's value, the
    sweep's choice ``best`` for a grid knob and ``section``'s otherwise; a mapping sets what it
    gives."""
    if isinstance(rung, Mapping):
        return dict(rung)
    knobs = [rung] if isinstance(rung, str) else list(rung)
    return {k: best[k] if k in section["grid"] else section[k] for k in knobs}


def paired(a: Sequence[float | None], b: Sequence[float | None]) -> dict:
    """The mean of b - a over the seeds where both finished, with its 95% t interval (None
    where fewer than two pairs)."""
    diffs = np.array([y - x for x, y in zip(a, b, strict=True)
                      if x is not None and y is not None], dtype=np.float64)
    if len(diffs) < 2:
        return {"mean": float(diffs.mean()) if len(diffs) else None, "low": None, "high": None,
                "half_width": None, "pairs": int(len(diffs))}
    half = float(t_quantile(len(diffs) - 1, UPPER_95) * diffs.std(ddof=1) / np.sqrt(len(diffs)))
    mean = float(diffs.mean())
    return {"mean": mean, "low": mean - half, "high": mean + half, "half_width": half,
            "pairs": int(len(diffs))}


def recipe_scores(kind: str, recipes: Sequence[tuple[str, dict]],
                  data_for: Callable[[Inputs], Prepared], seeds: Sequence[int],
                  workers: int) -> list[list[dict | None]]:
    """Each complete recipe trained with each seed, over ``workers`` processes: per recipe, per
    seed, its final validation and test accuracy (None where the run diverged)."""
    def run(task: tuple[int, int]) -> dict | None:
        index, seed = task
        config = {**recipes[index][1], "seed": seed}
        data = data_for(inputs_of(config))
        model, history = train_classifier(kind, config, data, train_curves=False)
        if history.diverged:
            return None
        return {"val_accuracy": history.val_accuracy[-1],
                "test_accuracy": bn.evaluate(model, data.x["test"], data.y["test"]).accuracy}

    prepared(data_for, [settings for _, settings in recipes])
    flat = fork_map(run, [(i, s) for i in range(len(recipes)) for s in seeds], workers)
    return [flat[i * len(seeds):(i + 1) * len(seeds)] for i in range(len(recipes))]


def scored(name: str, settings: dict, runs: list[dict | None], seeds: Sequence[int]) -> dict:
    """A recipe's record: its settings, every seed's scores and their means."""
    record = {"name": name, "settings": settings,
              "seeds": {str(s): r for s, r in zip(seeds, runs, strict=True)},
              "diverged": sum(r is None for r in runs)}
    for key in ("val_accuracy", "test_accuracy"):
        values = [r[key] for r in runs if r is not None]
        record.update({f"{key}_{stat}": value for stat, value in
                       (mean_and_std(values) if values else {"mean": None, "std": None}).items()})
    return record


def column(record: dict, key: str) -> list[float | None]:
    return [None if r is None else r[key] for r in record["seeds"].values()]


def ablation_outputs(kind: str, section: Mapping, best: Mapping, ablation: Mapping,
                     data_for: Callable[[Inputs], Prepared],
                     workers: int) -> tuple[dict, str]:
    """The ladder of ``kind`` (conf/ablation): rung 0 is the original attempt's recipe
    (``ablation[kind].original``, every knob named, so a knob added to the model never leaks
    into it); each rung of ``rungs`` changes what it names (rung_changes), and a last rung sets
    whatever else differs from this study's recipe (a knob changed by an experiment, say), so
    that the ladder ends at that recipe; ``beyond`` rungs go on from there. Every rung runs the
    same seeds, and each change is judged by its paired difference in VALIDATION accuracy with
    a 95% interval (the test set takes no part in a verdict; its paired difference is reported
    as the outcome). The leave-one-out undoes each change alone in the study's recipe, since a
    cumulative ladder depends on its order: the knobs a rung changed go back to their values
    just before it (a learning rate chosen after the reparametrisation goes back to the
    reparametrised original's, the same step as the original's). Writes <kind>.json and
    <kind>.csv under reports/ablation/; returns them and a summary."""
    spec, seeds = ablation[kind], [int(s) for s in ablation["seeds"]]
    original = dict(spec["original"])
    steps = [("original", {}, original)]
    words = {"original": "the original's recipe"}  # rung name -> its words

    def climb(changes: dict, name: str, prefix: str = "") -> None:
        steps.append((name, changes, {**steps[-1][2], **changes}))
        words[name] = prefix + rung_words(changes, ablation["change_words"])

    for rung in spec["rungs"]:
        climb(rung_changes(rung, section, best), rung_name(rung))
    recipe = {**{k: v for k, v in section.items() if k not in ("grid", "final_seeds", "seed")},
              **{k: best[k] for k in section["grid"]}}
    rest = {k: v for k, v in recipe.items() if steps[-1][2].get(k) != v}
    if rest:
        climb(rest, f"the rest of the study's recipe: {settings_name(rest)}",
              "the rest of the study's recipe: ")
    at_study = len(steps) - 1
    study = steps[at_study][2]
    for rung in spec["beyond"]:
        climb(rung_changes(rung, section, best), rung_name(rung))
    undone, kept = [], []  # a change that cannot be undone alone is kept, with the reason
    for (_, _, before), (name, changes, _) in zip(steps, steps[1:at_study + 1], strict=False):
        settings = {**study, **{k: before[k] for k in changes}}
        if settings["standardise"] and not settings["scale_pixels"]:
            kept.append({"name": name, "words": words[name],
                         "reason": "standardised inputs do not depend on the pixels' scale, so "
                         "raw pixels cannot be restored alone"})
        elif "gradient" in changes:
            kept.append({"name": name, "words": words[name],
                         "reason": "it only rescales the step (the learning rate and λ change "
                         "with the gradient's reduction), so undone alone it would also take "
                         "back the learning rate chosen later"})
        else:
            undone.append((name, settings))
    runs = recipe_scores(kind, [(n, s) for n, _, s in steps] + undone, data_for, seeds, workers)
    ladder_records = []
    for (name, changes, settings), scores in zip(steps, runs, strict=False):
        record = {**scored(name, settings, scores, seeds), "changes": changes,
                  "words": words[name]}
        if ladder_records:
            before = ladder_records[-1]
            record["change"] = {key: paired(column(before, key), column(record, key))
                                for key in ("val_accuracy", "test_accuracy")}
        ladder_records.append(record)
    final = ladder_records[at_study]
    leave_one_out = []
    for (name, settings), scores in zip(undone, runs[len(steps):], strict=True):
        record = {**scored(name, settings, scores, seeds), "words": words[name]}
        # what the study's recipe loses without this change: final minus undone
        record["loss"] = {key: paired(column(record, key), column(final, key))
                          for key in ("val_accuracy", "test_accuracy")}
        leave_one_out.append(record)
    # a rung identical on every seed (a reparametrisation) has no width to speak of
    widths = [r["change"]["val_accuracy"]["half_width"] for r in ladder_records[1:]
              if r["change"]["val_accuracy"]["half_width"]]
    rows = [[r["name"], int(seed), run["val_accuracy"], run["test_accuracy"]]
            for r in ladder_records for seed, run in r["seeds"].items() if run is not None]
    waterfall = [[ladder_records[0]["words"], *[100 * ladder_records[0]["test_accuracy_mean"]] * 2,
                  None, None]]
    # the waterfall climbs to the study's recipe; the rungs beyond it are in the tables only
    climbed = ladder_records[:at_study + 1]
    for before, record in zip(climbed, climbed[1:], strict=False):
        change = record["change"]["test_accuracy"]
        start = 100 * before["test_accuracy_mean"]
        waterfall.append([record["words"], start, 100 * record["test_accuracy_mean"],
                          *(None if change[k] is None else start + 100 * change[k]
                            for k in ("low", "high"))])
    summary = ", ".join(f"{r['name']} {r['test_accuracy_mean']:.4f}"
                        if r["test_accuracy_mean"] is not None else f"{r['name']} diverged"
                        for r in ladder_records)
    return {f"{kind}.json": {"seeds": seeds, "ladder": ladder_records, "study_rung": at_study,
                             "leave_one_out": leave_one_out, "not_undone": kept,
                             # the median 95% half-width of a rung's paired validation change:
                             # about the smallest change these seeds tell from noise
                             "detectable_val_change": float(np.median(widths)) if widths
                             else None},
            f"{kind}.csv": Table(LADDER_HEADER, rows),
            f"{kind}_waterfall.csv": Table(WATERFALL_HEADER, waterfall)}, summary


def sigma_outputs(section: Mapping, best: Mapping, sigma: Mapping,
                  data_for: Callable[[Inputs], Prepared],
                  workers: int) -> tuple[dict, str]:
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
