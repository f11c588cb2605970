"""replicate: re-run the original attempt's recipes with its own maths (raw pixels, batch-summed
gradients, per-image L2, its initialisation, its split, its in-place shuffles, its chained
sweep) over conf/replicate's seeds, to show which of its printed numbers come back and why
(study.replicate). Reads the official MNIST files in their file order, as the original did.

Outputs under reports/replicate/: replication.csv (one row per original number), sweep.csv,
candidates.csv, mlp_observations.csv, metrics.json.
"""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from study.data import IdxDataset, fetch_dataset, load_dataset, mirror_root
from study.hydra_app import stage_main
from study.io import write_outputs
from study.replicate import RawMnist, replication_outputs


@stage_main
def main(cfg: DictConfig) -> None:
    dataset = IdxDataset.from_config(OmegaConf.to_container(cfg.data))
    fetched = fetch_dataset(dataset, Path(cfg.data.root), mirror_root(cfg.data.mirror))
    data = RawMnist.from_arrays(load_dataset(dataset, fetched.folder), cfg.replicate.dtype)
    outputs, summary = replication_outputs(data, OmegaConf.to_container(cfg.replicate),
                                           OmegaConf.to_container(cfg.report.original),
                                           cfg.workers)
    write_outputs(f"{cfg.paths.reports}/replicate", outputs)
    print(f"replicate: {summary}", flush=True)


if __name__ == "__main__":
    main()
