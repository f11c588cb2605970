"""final: retrain a classifier with the hyperparameters its sweep chose on validation, with
each of its seeds, and score every seed's model on the TEST set, which takes part in no choice.
Per-epoch train and validation curves show any over-fitting.

Outputs under reports/<model>/: metrics.json (train/val/test accuracy and loss, chosen
hyperparameters, best and worst test class as indices), info.json (class names,
preprocessing), curves.csv, per_class.csv, confusion.csv, weights.png (the linear model's
template of each class, or the MLP's first hidden units) and mistakes.png; and the model of the
headline seed as <paths.models>/<model>.npz (study.classify.model_file), DVC-cached.
"""


from study.classify import final_outputs, load_prepared
from study.hydra_app import stage_main
from study.io import read_json, write_bytes, write_outputs
from study.layout import model_file
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    out = f"{cfg.paths.reports}/{cfg.model}"
    section = cfg[cfg.model]
    data = load_prepared(cfg.paths.idx, section.dtype, section.standardise,
                         section.scale_pixels)
    outputs, model, summary = final_outputs(cfg.model, section, read_json(f"{out}/best.json"),
                                            data, cfg.workers)
    write_outputs(out, outputs)
    write_bytes(model_file(cfg.paths.models, cfg.model), model)
    print(f"final@{cfg.model}: {summary}", flush=True)


if __name__ == "__main__":
    main()
