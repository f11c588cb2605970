"""cnn: beyond the assignment, a small convolutional network from barenet's modules (conf/cnn).
Every learning rate of its grid is trained in full, side by side over `workers` processes; the
best on VALIDATION accuracy is chosen and that same model is scored on the TEST set (a CNN
epoch is slow in NumPy, so the chosen point is not retrained); the chosen point is also trained
with `final_seeds - 1` further seeds, for the spread of its test accuracy.

Outputs under reports/cnn/: sweep.csv, sweep.md, heatmap.json, best.json (the choice), and
metrics.json, info.json, curves.csv, per_class.csv, confusion.csv, weights.png (the first-layer
filters), mistakes.png, as the final stage writes them for the other classifiers; and the
tested model as <paths.models>/cnn.npz (study.classify.model_file), DVC-cached.
"""


from study.classify import load_prepared, sweep_and_final_outputs
from study.hydra_app import stage_main
from study.io import write_bytes, write_outputs
from study.layout import model_file
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    data = load_prepared(cfg.paths.idx, cfg.cnn.dtype, cfg.cnn.standardise, cfg.cnn.scale_pixels)
    outputs, model, summary = sweep_and_final_outputs("cnn", cfg.cnn, data, cfg.workers)
    write_outputs(f"{cfg.paths.reports}/cnn", outputs)
    write_bytes(model_file(cfg.paths.models, "cnn"), model)
    print(f"cnn: {summary}", flush=True)


if __name__ == "__main__":
    main()
