"""sigma: the linear classifier initialised from N(0, s^2) for each s in sigma.values, beside
the default U(+-1/sqrt(784)), at its chosen learning rate and lambda (study.ablation).

Outputs: reports/sigma/sigma.json and reports/sigma/sigma.csv (one row per initialisation).
"""


import functools

from study.ablation import sigma_outputs
from study.classify import load_prepared
from study.hydra_app import stage_main
from study.io import read_json, write_outputs
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    section = cfg.linear
    data = functools.cache(lambda inputs: load_prepared(cfg.paths.idx, *inputs))
    best = read_json(f"{cfg.paths.reports}/linear/best.json")
    outputs, summary = sigma_outputs(section, best, cfg.sigma,
                                     data, cfg.workers)
    write_outputs(f"{cfg.paths.reports}/sigma", outputs)
    print(f"sigma: {summary}", flush=True)


if __name__ == "__main__":
    main()
