"""Is `resnet-inspect bench --mode train` as fast as a hand-written training step? Measured in one run.

    python benchmarks/bench_train.py [--depth 50] [--input-size 224] [--batch 8] [--iterations 5] [--rounds 3]
                                     [--xla] [--out F.json]

On the CPU, in one process, over the *same* model object:

* ours: the images/s that `bench --mode train` reports (its own code path: ``resnet_inspect.bench.run.run_sweep``
  with ``mode=train``: forward in training mode, sparse categorical cross-entropy on random labels, gradients,
  ``keras.optimizers.SGD(momentum=0.9)`` update, in one ``tf.function``; statistics from ``bench.stats``);
* minimal: the smallest honest training loop written by hand: the same optimizer and loss in one
  ``tf.function`` (``jit_compile`` with ``--xla``), the data made beforehand, each step's loss fetched, n steps
  under one ``perf_counter`` pair.

Rounds interleave the two (the order rotating each round) so that drift in machine load hits both alike; each
round's pair ran back to back, so the ratio is given per round and as the median of the rounds' ratios.
Goal: ours / minimal >= 0.97.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from resnet_inspect._tf import keras, tf  # noqa: E402
from resnet_inspect.analysis.walk import analyze  # noqa: E402
from resnet_inspect.bench import run as core  # noqa: E402  (after the log level is set)
from resnet_inspect.bench.plan import make_plan  # noqa: E402
from resnet_inspect.model.builder import build_from_spec  # noqa: E402
from resnet_inspect.model.spec import make_spec  # noqa: E402
from resnet_inspect.output.payloads import versions  # noqa: E402

WARMUP = 2


def ours(model: Any, report: Any, batch: int, iterations: int, target: core.Target, xla: bool) -> float:
    """images/s of `bench --mode train` for this model and batch (the command's own code path)."""
    plan = make_plan([batch], device="cpu", xla=xla, warmup=WARMUP, iterations=iterations, mode="train")
    [result] = core.run_sweep(plan, lambda: model, target, report.totals.flops, report=report)
    return result.row.images_per_s


def minimal(model: Any, batch: int, iterations: int, xla: bool) -> float:
    """A hand-written training step: one tf.function, data made beforehand, each step's loss fetched."""
    classes = model.outputs[0].shape[-1]
    x = tf.random.uniform((batch, *model.inputs[0].shape[1:]))
    y = tf.random.uniform((batch,), maxval=classes, dtype=tf.int32)
    optimizer = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables

    def step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    train = tf.function(step, jit_compile=xla)
    for _ in range(WARMUP):
        train(x, y).numpy()
    start = time.perf_counter()
    for _ in range(iterations):
        train(x, y).numpy()
    return batch * iterations / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--xla", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    spec = make_spec(args.depth, input_size=(args.input_size, args.input_size))
    model = build_from_spec(spec)
    report = analyze(model, config=spec.config())
    target = core.resolve_target(make_plan(device="cpu").device, False)
    contenders = {
        "ours (bench --mode train)": lambda: ours(model, report, args.batch, args.iterations, target, args.xla),
        "minimal tf.function step": lambda: minimal(model, args.batch, args.iterations, args.xla),
    }
    names = list(contenders)
    runs: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names[r % 2:] + names[: r % 2]:  # rotate who goes first
            runs[name].append(contenders[name]())
        print(f"round {r + 1}: " + ", ".join(f"{n} {runs[n][-1]:.3f} img/s" for n in names), flush=True)
    paired = [o / m for o, m in zip(runs[names[0]], runs[names[1]], strict=True)]
    ratio = statistics.median(paired)
    medians = {n: statistics.median(v) for n, v in runs.items()}
    print(f"{spec.describe()}; batch {args.batch}, {args.iterations} steps x {args.rounds} rounds, "
          f"XLA {'on' if args.xla else 'off'}; CPU: {target.cpu.model}, {target.cpu.cores} core(s)")
    print("median images/s: " + ", ".join(f"{n} {v:.3f}" for n, v in medians.items()))
    print(f"ours / minimal: {ratio:.3f} (median of the rounds' ratios {', '.join(f'{p:.3f}' for p in paired)}); "
          f"goal >= 0.97: {'met' if ratio >= 0.97 else 'NOT met'}")
    if args.out is not None:
        args.out.write_text(json.dumps({"settings": vars(args) | {"out": str(args.out)}, "versions": versions(),
                                        "cpu": target.cpu.model, "runs": runs, "paired_ratios": paired,
                                        "ratio": ratio}, indent=2) + "\n")


if __name__ == "__main__":
    main()
