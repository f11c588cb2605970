"""sweep_point: train one point of a hyperparameter sweep and record its validation scores.

dvc.yaml runs it once per matrix point (linear_sweep@..., mlp_sweep@...), passing the model
(`model=linear` or `model=mlp`) and the point's values as new keys (e.g. `+linear.lr=0.1
+linear.lambda=0.001`). A point whose loss becomes NaN or inf is recorded as diverged, with the
epoch, and never stops the sweep.

Output: reports/<model>/sweep/<point>.json (validation loss and accuracy per epoch; the train
split's after the last epoch only: the choice is made on validation, and measuring the train
split after every epoch would cost a fifth of the training time).
"""

from pathlib import Path

from omegaconf import DictConfig

from study.classify import history_record, load_prepared, point_name, train
from study.hydra_app import stage_main
from study.io import write_json
from study.progress import Progress

LOG_LINES = 5  # per point when not on a terminal: a sweep runs many points


@stage_main
def main(cfg: DictConfig) -> None:
    section = cfg[cfg.model]
    point = {key: section[key] for key in section.grid}
    data = load_prepared("data/mnist", section.dtype)
    with Progress(f"{cfg.model}_sweep {point_name(point)}", section.epochs,
                  max_lines=LOG_LINES) as progress:
        _, history = train(cfg.model, section, data, progress=progress, train_curves=False)
    record = {"point": point, **history_record(history)}
    write_json(Path(f"reports/{cfg.model}/sweep/{point_name(point)}.json"), record)
    outcome = (f"diverged in epoch {history.diverged_at_epoch}" if history.diverged
               else f"val acc {record['val_accuracy']:.4f} loss {record['val_loss']:.4f}")
    print(f"{cfg.model}_sweep {point_name(point)}: {outcome}", flush=True)


if __name__ == "__main__":
    main()
