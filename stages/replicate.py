"""replicate: re-run the original attempt's experiments (../shared/assignment) with its own maths
(raw pixels, batch-summed gradients, per-image L2, its initialisation, its scikit-learn split,
its in-place shuffles, its chained sweep) over several seeds, and set each of its printed numbers
beside the replication's (study.replicate). Reads the official MNIST files as the prepare stage
fetched and checked them, in file order (the original's split indexes them).

Outputs under reports/replicate/: replication.csv (one row per original number: its value, the
seeds' mean, sd, min and max, reproduced or not), sweep.csv, candidates.csv,
mlp_observations.csv and metrics.json.
"""

from pathlib import Path

from study.data import IdxDataset, fetch_dataset, load_dataset, mirror_root
from study.hydra_app import stage_main
from study.io import write_outputs
from study.replicate import RawMnist, replication_outputs
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    dataset = IdxDataset.from_config(cfg.data)
    fetched = fetch_dataset(dataset, Path(cfg.data.root), mirror_root(cfg.data.mirror))
    data = RawMnist.from_arrays(load_dataset(dataset, fetched.folder), cfg.replicate.dtype)
    outputs, summary = replication_outputs(data, cfg.replicate, cfg.report.original, cfg.workers)
    write_outputs(f"{cfg.paths.reports}/replicate", outputs)
    print(f"replicate: {summary}", flush=True)


if __name__ == "__main__":
    main()
