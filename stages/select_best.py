"""select_best: read exactly the sweep points the current params name (never a glob, so results of
points removed from the grid are ignored), tabulate them and choose the best on VALIDATION
accuracy (ties go to the lower validation loss; diverged points never win).

Outputs under reports/<model>/: sweep.csv, sweep.md, heatmap.json (val accuracy and loss per
grid cell, for the heatmap template in .dvc/plots/), best.json (the chosen hyperparameters).
"""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from study.classify import grid_points, point_name, select_best
from study.hydra_app import stage_main
from study.io import read_json, write_csv, write_json, write_text


def sweep_table(results: list[dict], keys: list[str]) -> tuple[list[str], list[list]]:
    header = [*keys, "val_accuracy", "val_loss", "train_accuracy", "diverged_at_epoch"]
    rows = [[*(r["point"][k] for k in keys), r["val_accuracy"], r["val_loss"],
             r["train_accuracy"], r["diverged_at_epoch"]] for r in results]
    return header, rows


def markdown(results: list[dict], keys: list[str], best: dict) -> str:
    metrics = ("val_accuracy", "val_loss", "train_accuracy")
    lines = ["| " + " | ".join([*keys, *(m.replace("_", " ") for m in metrics)]) + " |",
             "|" + "---:|" * (len(keys) + len(metrics))]
    for r in results:
        scores = ([f"diverged (epoch {r['diverged_at_epoch']})"] + [""] * 2 if r["diverged"]
                  else [f"{r[m]:.4f}" for m in metrics])
        if r is best:
            scores[0] = f"**{scores[0]}** (chosen)"
        lines.append("| " + " | ".join([*(str(r["point"][k]) for k in keys), *scores]) + " |")
    return "\n".join(lines) + "\n"


def heatmap_rows(results: list[dict], keys: list[str]) -> list[dict]:
    return [{**{k: r["point"][k] for k in keys}, "metric": metric.replace("_", " "),
             "value": r[metric]}
            for metric in ("val_accuracy", "val_loss") for r in results]


@stage_main
def main(cfg: DictConfig) -> None:
    grid = OmegaConf.to_container(cfg[cfg.model].grid)
    out = Path(f"reports/{cfg.model}")
    results = [read_json(out / "sweep" / f"{point_name(p)}.json") for p in grid_points(grid)]
    best = select_best(results)
    keys = list(grid)
    header, rows = sweep_table(results, keys)
    write_csv(out / "sweep.csv", header, rows)
    write_text(out / "sweep.md", markdown(results, keys, best))
    write_json(out / "heatmap.json", heatmap_rows(results, keys))
    write_json(out / "best.json", {**best["point"], "val_accuracy": best["val_accuracy"],
                                   "val_loss": best["val_loss"]})
    n_diverged = sum(r["diverged"] for r in results)
    print(f"{cfg.model}_select: best of {len(results)} points ({n_diverged} diverged): "
          f"{point_name(best['point'])} val acc {best['val_accuracy']:.4f}", flush=True)


if __name__ == "__main__":
    main()
