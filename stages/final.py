"""final: retrain a classifier with the hyperparameters its select stage chose, then touch the
TEST set exactly once. Per-epoch train and validation curves show any over-fitting.

Outputs under reports/<model>/: metrics.json (train/val/test accuracy and loss, chosen
hyperparameters, best and worst test class, preprocessing), curves.csv, per_class.csv,
confusion.csv (actual, predicted per test image, for DVC's confusion template) and weights.png
(the linear model's template of each class, or the MLP's first hidden units).
"""

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

import barenet as bn
from study.classify import load_prepared, train, with_chosen_point
from study.hydra_app import stage_main
from study.io import save_figure, write_csv, write_json
from study.plots import close, image_grid
from study.progress import Progress


def weight_figure(kind: str, model: bn.Module, names: list[str]):
    """The linear model's template per class, or the MLP's first 20 hidden units' input weights
    (red > 0 > blue, each image on its own symmetric scale)."""
    if kind == "linear":
        images, titles = model.W.T, [f"class {n}" for n in names]
        title = "Learned weights W[:, c] of each class"
    else:
        images, titles = model[0].weight.data[:20], [f"unit {i}" for i in range(20)]
        title = "Input weights of the first 20 hidden units"
    return image_grid(images.reshape(-1, 28, 28), titles, ncols=10 if len(titles) > 10 else 5,
                      symmetric=True, cmap="RdBu_r", suptitle=f"{title} (red > 0 > blue)")


@stage_main
def main(cfg: DictConfig) -> None:
    out = Path(f"reports/{cfg.model}")
    section, chosen = with_chosen_point(cfg)
    data = load_prepared("data/mnist", section["dtype"])
    with Progress(f"{cfg.model}_final", section["epochs"]) as progress:
        model, history = train(cfg.model, section, data, progress=progress)
    if history.diverged:
        raise RuntimeError(f"the chosen point {chosen} diverged in epoch "
                           f"{history.diverged_at_epoch} on retraining")
    test = bn.evaluate(model, data.x["test"], data.y["test"])  # the one look at the test set
    names = data.class_names
    order = np.argsort(test.per_class_accuracy, kind="stable")
    write_json(out / "metrics.json", {
        "train": {"accuracy": history.train_accuracy[-1], "loss": history.train_loss[-1]},
        "val": {"accuracy": history.val_accuracy[-1], "loss": history.val_loss[-1]},
        "test": {"accuracy": test.accuracy, "loss": test.loss},
        "best": chosen,
        "best_class": names[order[-1]],
        "worst_class": names[order[0]],
        "epochs": section["epochs"],
        "preprocessing": data.preprocessing,
    })
    write_csv(out / "curves.csv",
              ["epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy"],
              zip(range(1, len(history.train_loss) + 1), history.train_loss, history.val_loss,
                  history.train_accuracy, history.val_accuracy, strict=True))
    write_csv(out / "per_class.csv", ["class", "accuracy", "loss"],
              zip(names, test.per_class_accuracy, test.per_class_loss, strict=True))
    write_csv(out / "confusion.csv", ["actual", "predicted"],  # one row per test image
              ((names[a], names[p]) for a, p in np.ndindex(test.confusion.shape)
               for _ in range(test.confusion[a, p])))
    save_figure(out / "weights.png", fig := weight_figure(cfg.model, model, names))
    close(fig)
    print(f"{cfg.model}_final: test accuracy {test.accuracy:.4f} loss {test.loss:.4f}; "
          f"best class {names[order[-1]]}, worst {names[order[0]]}", flush=True)


if __name__ == "__main__":
    main()
