"""How trustworthy and how fast are `resnet-inspect bench`'s figures for ResNet-50 on this CPU? Measured in one run.

    python benchmarks/bench_forward.py [--rounds 3] [--iterations-32 5] [--part all|overhead|settings] [--out F.json]

Three figures, all on the CPU, in one process:

1. overhead: the images/s that `bench` reports (its own code path: ``resnet_inspect.bench.run.run_sweep``,
   statistics from ``benchstats``) against a minimal hand-written loop over the *same* model object:
   ``f = tf.function(lambda x: model(x, training=False))``, then ``f(x).numpy()`` n times under one
   ``perf_counter`` pair. Batch 1 and 32, float32, no XLA. Goal: ours / minimal >= 0.97;
2. family: our pre-activation ResNet-50 (the seeds' network) against
   ``keras.applications.ResNet50V2(weights=None)``, timed the same way at the same batch, with the
   MACs and parameters of each from the graph walk;
3. settings: every precision policy with and without XLA at batch 1 and 32, with bench's own step
   (``single_step``) and timing loop (``time_steps``); the best, and its share of the CPU's peak
   (:func:`resnet_inspect.bench.hardware.cpu_peak`).

Rounds interleave the contenders (the order rotates each round) so that drift in machine load hits
all alike; the figure of each is its median over rounds, and ours / minimal is also given per round
(each round's pair ran back to back). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from resnet_inspect._tf import keras, tf  # noqa: E402
from resnet_inspect.analysis.walk import analyze  # noqa: E402
from resnet_inspect.bench import hardware  # noqa: E402
from resnet_inspect.bench import run as core  # noqa: E402  (after the log level is set)
from resnet_inspect.bench.plan import Precision, make_plan  # noqa: E402
from resnet_inspect.bench.stats import make_result, time_steps  # noqa: E402
from resnet_inspect.model.builder import build_from_spec  # noqa: E402
from resnet_inspect.model.spec import make_spec  # noqa: E402
from resnet_inspect.output.payloads import versions  # noqa: E402

WARMUP = 2


def ours(model: Any, batch: int, iterations: int, target: core.Target, flops: int | None,
         precision: Precision = Precision.FLOAT32, xla: bool = False) -> dict[str, Any]:
    """What `resnet-inspect bench` reports for this model and batch (the command's own code path)."""
    plan = make_plan([batch], [precision], device="cpu", xla=xla, warmup=WARMUP, iterations=iterations)
    [result] = core.run_sweep(plan, lambda: model, target, flops)
    row = result.row
    return {"images_per_s": row.images_per_s, "mean_ms": row.mean_ms, "p50_ms": row.p50_ms,
            "gflops_per_s": row.gflops_per_s, "pct_of_peak": row.pct_of_peak}


def minimal(model: Any, batch: int, iterations: int) -> dict[str, Any]:
    """The smallest honest loop: one tf.function, the input made beforehand, each result fetched."""
    x = tf.random.uniform((batch, *model.inputs[0].shape[1:]))
    f = tf.function(lambda t: model(t, training=False))
    for _ in range(WARMUP):
        f(x).numpy()
    start = time.perf_counter()
    for _ in range(iterations):
        f(x).numpy()
    seconds = time.perf_counter() - start
    return {"images_per_s": batch * iterations / seconds, "mean_ms": seconds / iterations * 1e3}


def interleave(contenders: dict[str, Callable[[], dict[str, Any]]], rounds: int) -> dict[str, list[dict[str, Any]]]:
    names = list(contenders)
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate who goes first
            runs[name].append(contenders[name]())
    return runs


def median_ips(runs: list[dict[str, Any]]) -> float:
    return statistics.median(r["images_per_s"] for r in runs)


def overhead_and_family(args: argparse.Namespace, target: core.Target, report: dict[str, Any]) -> None:
    spec = make_spec(50)
    model = build_from_spec(spec)
    walk = analyze(model, config=spec.config())
    apps = keras.applications.ResNet50V2(weights=None)
    apps_walk = analyze(apps)
    report["models"] = {
        "ours": {"name": spec.describe(), "params": walk.totals.params, "macs": walk.totals.macs,
                 "flops": walk.totals.flops},
        "keras.applications.ResNet50V2": {"params": apps_walk.totals.params, "macs": apps_walk.totals.macs,
                                          "flops": apps_walk.totals.flops,
                                          "unsupported": [u.layer_type for u in apps_walk.unsupported]},
    }
    print(f"ours: {walk.totals.params:,} params, {walk.totals.macs / 1e9:.3f} GMACs; ResNet50V2: "
          f"{apps_walk.totals.params:,} params, "
          f"{(apps_walk.totals.macs or apps_walk.totals.macs_counted) / 1e9:.3f} GMACs", flush=True)
    for batch in args.batch:
        iterations = args.iterations_1 if batch == 1 else args.iterations_32
        runs = interleave(
            {
                "ours (bench)": lambda b=batch, n=iterations: ours(model, b, n, target, walk.totals.flops),
                "minimal loop": lambda b=batch, n=iterations: minimal(model, b, n),
                "ResNet50V2 (bench)": lambda b=batch, n=iterations: ours(apps, b, n, target, apps_walk.totals.flops),
            },
            args.rounds,
        )
        ips = {name: median_ips(r) for name, r in runs.items()}
        # Paired per round (the contenders of a round ran back to back), then the median over rounds.
        pairs = zip(runs["ours (bench)"], runs["minimal loop"], strict=True)
        paired = [o["images_per_s"] / m["images_per_s"] for o, m in pairs]
        report[f"batch_{batch}"] = {"iterations": iterations, "runs": runs, "median_images_per_s": ips,
                                    "ratio_ours_over_minimal": ips["ours (bench)"] / ips["minimal loop"],
                                    "paired_ratios_ours_over_minimal": paired,
                                    "ratio_ours_over_resnet50v2": ips["ours (bench)"] / ips["ResNet50V2 (bench)"]}
        print(f"batch {batch:>2}: " + ", ".join(f"{n} {v:.2f} img/s" for n, v in ips.items())
              + f"; ours/minimal {ips['ours (bench)'] / ips['minimal loop']:.3f} (goal >= 0.97; per round "
              + ", ".join(f"{p:.3f}" for p in paired) + f", median {statistics.median(paired):.3f})"
              + f"; ours/ResNet50V2 {ips['ours (bench)'] / ips['ResNet50V2 (bench)']:.3f}", flush=True)


def settings(args: argparse.Namespace, target: core.Target, report: dict[str, Any]) -> None:
    """Every precision x XLA x batch with bench's own step and timing loop; the step of each setting is
    made (and compiled) once, then the settings are timed in interleaved rounds, the order rotating."""
    spec = make_spec(50)
    flops = analyze(build_from_spec(spec)).totals.flops
    settings_list = [(p, x, b) for p in Precision for x in (False, True) for b in args.batch]
    steps, peaks = {}, {}
    for precision in Precision:
        model = core.build_on(lambda: build_from_spec(spec), precision, target, None)
        found = hardware.cpu_peak(target.cpu, precision.compute_dtype)
        peaks[precision] = found.flops if found else None
        for xla in (False, True):
            for batch in args.batch:
                step = core.single_step(model, batch, target.devices[0], xla)
                step()  # the first call compiles (XLA) and creates oneDNN primitives
                steps[(precision, xla, batch)] = step
    runs: dict[tuple[Precision, bool, int], list[Any]] = {key: [] for key in settings_list}
    for r in range(args.rounds):
        for key in settings_list[r % len(settings_list):] + settings_list[: r % len(settings_list)]:
            precision, xla, batch = key
            iterations = args.iterations_1 if batch == 1 else args.iterations_32
            times = time_steps(steps[key], WARMUP, iterations)
            runs[key].append(make_result(times, batch, target.label, precision, xla, flops, peaks[precision], WARMUP))
    table = []
    for (precision, xla, batch), results in runs.items():
        ips = statistics.median(res.row.images_per_s for res in results)
        gflops = flops * ips / 1e9  # FLOPs per image x images per second
        pct = 100 * gflops * 1e9 / peaks[precision] if peaks[precision] else None
        table.append({"precision": precision.value, "xla": xla, "batch_size": batch, "images_per_s": ips,
                      "gflops_per_s": gflops, "pct_of_peak": pct,
                      "rounds_images_per_s": [res.row.images_per_s for res in results]})
        print(f"{precision.value:>15} xla={'on ' if xla else 'off'} batch {batch:>2}: {ips:8.2f} img/s "
              f"(rounds {', '.join(f'{res.row.images_per_s:.2f}' for res in results)}), {gflops:6.1f} GFLOP/s, "
              f"{'?' if pct is None else f'{pct:.1f}'}% of peak", flush=True)
    report["settings"] = table
    for batch in args.batch:
        best = max((r for r in table if r["batch_size"] == batch), key=lambda r: r["images_per_s"])
        report[f"best_batch_{batch}"] = best
        print(f"best at batch {batch}: {best['precision']} xla={best['xla']}: {best['images_per_s']:.2f} img/s, "
              f"{best['pct_of_peak']:.1f}% of peak", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations-1", type=int, default=20, help="timed steps per run at batch 1")
    parser.add_argument("--iterations-32", type=int, default=5, help="timed steps per run at a batch other than 1")
    parser.add_argument("--batch", type=int, action="append", help="batch sizes (default 1 and 32)")
    parser.add_argument("--part", choices=("all", "overhead", "settings"), default="all")
    parser.add_argument("--out", type=Path, help="also write every figure as JSON")
    args = parser.parse_args()
    args.batch = args.batch or [1, 32]

    target = core.resolve_target(make_plan(device="cpu").device, False)
    cpu = target.cpu
    report: dict[str, Any] = {
        "versions": versions(),
        "cpu": {"model": cpu.model, "cores": cpu.cores, "isa": cpu.vector_isa, "clock_mhz": cpu.clock_mhz,
                "clock_source": cpu.clock_source},
        "peaks": {p.value: (pk.derivation if (pk := hardware.cpu_peak(cpu, p.compute_dtype)) else None)
                  for p in Precision},
        "load_before": os.getloadavg(),
    }
    print(f"CPU: {cpu.model}, {cpu.cores} cores, {cpu.vector_isa}; load {os.getloadavg()}", flush=True)
    print(f"peak float32: {report['peaks']['float32']}", flush=True)
    if args.part in ("all", "overhead"):
        overhead_and_family(args, target, report)
    if args.part in ("all", "settings"):
        settings(args, target, report)
    report["load_after"] = os.getloadavg()
    print(f"load after: {report['load_after']}", flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
