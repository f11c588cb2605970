"""final: retrain a classifier with the hyperparameters its select stage chose, then touch the
TEST set exactly once. Per-epoch train and validation curves show any over-fitting.

Outputs under reports/<model>/: metrics.json (train/val/test accuracy and loss, chosen
hyperparameters, best and worst test class, preprocessing), curves.csv, per_class.csv,
confusion.csv (actual, predicted per test image, for DVC's confusion template) and, for the
linear model, weights.png (the learned template of each class).
"""

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

import barenet as bn
from study.classify import epoch_printer, load_prepared, train, with_chosen_point
from study.hydra_app import stage_main
from study.io import save_figure, write_csv, write_json
from study.plots import close, image_grid


@stage_main
def main(cfg: DictConfig) -> None:
    out = Path(f"reports/{cfg.model}")
    section, chosen = with_chosen_point(cfg)
    data = load_prepared("data/mnist", section["dtype"])
    model, history = train(cfg.model, section, data,
                           on_epoch=epoch_printer(f"{cfg.model}_final", section["epochs"]))
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
    if cfg.model == "linear":
        templates = model.W.T.reshape(-1, 28, 28)
        fig = image_grid(templates, [f"class {n}" for n in names], ncols=5, symmetric=True,
                         cmap="RdBu_r", suptitle="Learned weights W[:, c] (red > 0 > blue)")
        save_figure(out / "weights.png", fig)
        close(fig)
    print(f"{cfg.model}_final: test accuracy {test.accuracy:.4f} loss {test.loss:.4f}; "
          f"best class {names[order[-1]]}, worst {names[order[0]]}", flush=True)


if __name__ == "__main__":
    main()
