"""scalar_grad: value and gradient of the assignment's function
f(x, y, z) = log(sigmoid((cos(pi x) + sin(pi y / 2)) / tanh(z^2))) by barenet's scalar graph at
each of scalar.points, cross-checked by finite differences (study.scalar).

Outputs: reports/scalar/gradients.json and reports/scalar/gradients.md.
"""


from study.hydra_app import stage_main
from study.io import write_outputs
from study.scalar import gradient_outputs
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    outputs, summary = gradient_outputs(cfg.scalar.points, cfg.scalar.fd_step)
    write_outputs(f"{cfg.paths.reports}/scalar", outputs)
    print(f"scalar_grad: {summary}", flush=True)


if __name__ == "__main__":
    main()
