"""Ratio benchmarks of barenet against PyTorch CPU and against barenet's own naive loops.

One run on this machine, everything measured side by side in the same process:

(a) one training epoch of a 784-100-10 MLP, float32, batch 64, 48,000 random samples
    (barenet: ``barenet.train.train_epoch``, fit's inner loop without its evaluation);
(b) Conv2d forward + backward (input, weight and bias gradients), batch 100, 3 -> 20
    channels, 32x32, kernel 5, padding 2, in float64 and float32;
(c) the same convolution, fast im2col path vs the naive per-pixel loops (in each dtype).

Ratios are barenet_time / torch_time (lower is better for barenet). Each time is the best of
several repeats after a warmup; the barenet and torch blocks alternate over a few rounds so
slow drift on a shared machine hits both. Prints the JSON and writes benchmarks/results.json.

Usage: .venv/bin/python benchmarks/run.py [--threads N] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

import barenet
from barenet.conv import Conv2d, conv2d_naive_backward, conv2d_naive_forward
from study.io import write_text

RESULTS = Path(__file__).with_name("results.json")
ROUNDS = 3  # alternating barenet/torch blocks


def best_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Smallest wall time of ``repeats`` calls after ``warmup`` untimed ones (seconds)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def side_by_side(ours: Callable[[], object], theirs: Callable[[], object], repeats: int
                 ) -> tuple[float, float]:
    """Best times of two callables, measured in alternating blocks over ROUNDS rounds."""
    t_ours = t_theirs = float("inf")
    for _ in range(ROUNDS):
        t_ours = min(t_ours, best_time(ours, repeats))
        t_theirs = min(t_theirs, best_time(theirs, repeats))
    return t_ours, t_theirs


def ratio_entry(t_ours: float, t_torch: float, target: float) -> dict:
    ratio = t_ours / t_torch
    return {"barenet_s": round(t_ours, 6), "torch_s": round(t_torch, 6),
            "ratio": round(ratio, 3), "target_ratio_at_most": target,
            "meets_target": bool(ratio <= target)}


# ----------------------------------------------------------------------------- (a) MLP epoch

MLP_SAMPLES, MLP_BATCH, MLP_LR = 48_000, 64, 0.1


def mlp_epoch_barenet(x: np.ndarray, labels: np.ndarray, seed: int) -> Callable[[], None]:
    model = barenet.MLP(784, 100, 10, rng=np.random.default_rng(seed), dtype=np.float32)
    optimizer = barenet.SGD(model.parameters(), lr=MLP_LR)
    rng = np.random.default_rng(seed)

    def epoch() -> None:
        if not barenet.train.train_epoch(model, optimizer, x, labels, batch_size=MLP_BATCH,
                                         rng=rng):
            raise RuntimeError("the benchmark MLP diverged")

    return epoch


def mlp_epoch_torch(x: np.ndarray, labels: np.ndarray, seed: int) -> Callable[[], None]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(),
                                torch.nn.Linear(100, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=MLP_LR)
    tx, ty = torch.from_numpy(x), torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(seed)

    def epoch() -> None:
        order = torch.randperm(len(tx), generator=generator)
        for start in range(0, len(tx), MLP_BATCH):
            idx = order[start:start + MLP_BATCH]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(tx[idx]), ty[idx])
            loss.backward()
            optimizer.step()

    return epoch


def bench_mlp() -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((MLP_SAMPLES, 784), dtype=np.float32)
    labels = rng.integers(0, 10, MLP_SAMPLES)
    t_ours, t_torch = side_by_side(mlp_epoch_barenet(x, labels, 1), mlp_epoch_torch(x, labels, 1),
                                   repeats=2)
    entry = ratio_entry(t_ours, t_torch, 0.8)
    entry.update(samples=MLP_SAMPLES, batch=MLP_BATCH, dtype="float32",
                 steps=-(-MLP_SAMPLES // MLP_BATCH))
    return entry


# ----------------------------------------------------------------------------- (b) Conv2d

CONV = dict(batch=100, in_channels=3, out_channels=20, size=32, kernel=5, padding=2)


def conv_arrays(dtype) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n, c, s = CONV["batch"], CONV["in_channels"], CONV["size"]
    x = rng.standard_normal((n, c, s, s)).astype(dtype)
    grad_out = rng.standard_normal((n, CONV["out_channels"], s, s)).astype(dtype)
    return x, grad_out


def conv_barenet(x: np.ndarray, grad_out: np.ndarray) -> tuple[Conv2d, Callable[[], None]]:
    module = Conv2d(CONV["in_channels"], CONV["out_channels"], CONV["kernel"],
                    padding=CONV["padding"], dtype=x.dtype)

    def step() -> None:
        module.forward(x)
        module.backward(grad_out)

    return module, step


def conv_torch(x: np.ndarray, grad_out: np.ndarray, module: Conv2d) -> Callable[[], None]:
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(module.weight.data, requires_grad=True)
    tb = torch.tensor(module.bias.data, requires_grad=True)
    tg = torch.tensor(grad_out)

    def step() -> None:
        F.conv2d(tx, tw, tb, padding=CONV["padding"]).backward(tg)

    return step


def bench_conv(dtype, target: float) -> tuple[dict, float]:
    x, grad_out = conv_arrays(dtype)
    module, ours = conv_barenet(x, grad_out)
    t_ours, t_torch = side_by_side(ours, conv_torch(x, grad_out, module), repeats=8)
    entry = ratio_entry(t_ours, t_torch, target)
    entry.update(CONV, dtype=np.dtype(dtype).name)
    return entry, t_ours


# ----------------------------------------------------------------------------- (c) naive

NAIVE_BATCH = 5  # the per-pixel loops are linear in the batch; time a slice and scale


def bench_naive(dtype, t_fast: float) -> dict:
    x, grad_out = conv_arrays(dtype)
    module, _ = conv_barenet(x, grad_out)
    xs, gs = x[:NAIVE_BATCH], grad_out[:NAIVE_BATCH]
    weight, bias = module.weight.data, module.bias.data

    def naive() -> None:
        conv2d_naive_forward(xs, weight, bias, padding=CONV["padding"])
        conv2d_naive_backward(gs, xs, weight, bias, padding=CONV["padding"])

    t_naive = best_time(naive, repeats=3, warmup=0)
    scale = CONV["batch"] / NAIVE_BATCH
    speedup = t_naive * scale / t_fast
    return {
        "fast_s": round(t_fast, 6), "naive_s_measured": round(t_naive, 6),
        "naive_batch_measured": NAIVE_BATCH, "naive_scaled_by": scale,
        "naive_s_scaled": round(t_naive * scale, 6), "speedup": round(speedup, 1),
        "note": (f"the naive loops were timed on batch {NAIVE_BATCH} and scaled linearly to "
                 f"batch {CONV['batch']} (their cost is one Python iteration per output pixel); "
                 "fast_s is the forward+backward time of benchmark (b) at the full batch"),
        "target_speedup_at_least": 50, "meets_target": bool(speedup >= 50),
        "dtype": np.dtype(dtype).name,
    }


# ----------------------------------------------------------------------------- environment

def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict:
    info = {
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(), "processor": platform.processor() or None,
        "python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__,
        "barenet": package_version("barenet"),
        "torch_mkl": torch.backends.mkl.is_available(),
        "torch_mkldnn": torch.backends.mkldnn.is_available(),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                 "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "loadavg_at_start": loadavg(),
    }
    try:  # which BLAS kernels numpy and torch really run (OPENBLAS_CORETYPE can change them)
        from threadpoolctl import threadpool_info
        info["blas"] = [{k: p.get(k) for k in ("internal_api", "version", "architecture",
                                                "num_threads")} for p in threadpool_info()]
    except ImportError:
        info["blas"] = None
    return info


def busy_note(load: list[float]) -> str | None:
    """A warning for the JSON when other processes were competing for the cores."""
    if load[0] < 0.5:
        return None
    return (f"the machine was busy (1-minute load {load[0]:.2f} on {os.cpu_count()} cores at "
            "the start): multi-threaded timings, torch's OpenMP ones most of all, are inflated "
            "and the ratios are noisy; rerun on an idle machine for firm numbers")


def limit_blas_threads(threads: int):
    """numpy's BLAS thread count for the duration of a with-block."""
    return threadpool_limits(threads, user_api="blas")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for torch and numpy's BLAS (default: every core)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with limit_blas_threads(args.threads):
        return run(args.output)


def run(output: Path) -> dict:
    started = time.perf_counter()
    env = environment()
    env["note"] = busy_note(env["loadavg_at_start"])
    conv64, fast64 = bench_conv(np.float64, 1.0)
    conv32, fast32 = bench_conv(np.float32, 3.0)
    results = {
        "environment": env,
        "timing": (f"best of {ROUNDS} alternating rounds x several repeats, time.perf_counter, "
                   "after a warmup; ratio = barenet_time / torch_time"),
        "mlp_epoch_float32": bench_mlp(),
        "conv2d_float64": conv64,
        "conv2d_float32": conv32,
        "conv2d_fast_vs_naive_float64": bench_naive(np.float64, fast64),
        "conv2d_fast_vs_naive_float32": bench_naive(np.float32, fast32),
    }
    env["loadavg_at_end"] = loadavg()
    env["wall_s"] = round(time.perf_counter() - started, 1)
    results["targets_met"] = {name: entry["meets_target"] for name, entry in results.items()
                              if isinstance(entry, dict) and "meets_target" in entry}
    text = json.dumps(results, indent=2)
    write_text(output, text + "\n")
    print(text)
    return results


if __name__ == "__main__":
    main()
