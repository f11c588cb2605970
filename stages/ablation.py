"""ablation: the ladder from the assignment's recipe to this study's, one change per rung, each
rung with its own learning rate chosen on validation and run over several seeds
(study.ablation). dvc.yaml runs it once per model (ablation@linear, ablation@mlp).

Outputs: reports/ablation/<model>.json (every rung's settings, learning rates and seeds) and
reports/ablation/<model>.csv (one row per rung).
"""


import functools

from study.ablation import ablation_outputs
from study.classify import load_prepared
from study.hydra_app import stage_main
from study.io import read_json, write_outputs
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    section = cfg[cfg.model]
    # each recipe's inputs in its own dtype, loaded once (before the workers fork)
    data = functools.cache(lambda inputs: load_prepared(cfg.paths.idx, *inputs))
    best = read_json(f"{cfg.paths.reports}/{cfg.model}/best.json")
    outputs, summary = ablation_outputs(cfg.model, section, best,
                                        cfg.ablation, data,
                                        cfg.workers)
    write_outputs(f"{cfg.paths.reports}/ablation", outputs)
    print(f"ablation@{cfg.model}: {summary}", flush=True)


if __name__ == "__main__":
    main()
