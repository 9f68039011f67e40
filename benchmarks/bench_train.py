"""Is `resnet-inspect bench --mode train` as fast as a hand-written training step? Measured in one run.

    python benchmarks/bench_train.py [--depth 50] [--input-size 224] [--batch 8] [--iterations 1] [--rounds 16]
                                     [--xla] [--out F.json]

On the CPU, in one process, over the *same* model object:

* ours: the images/s that `bench --mode train` reports, by its own code: the step ``run_sweep`` times
  (``resnet_inspect.bench.run.train_step``: forward in training mode, sparse categorical cross-entropy on random
  labels, gradients, ``keras.optimizers.SGD(momentum=0.9)`` update, in one ``tf.function``), its timing loop
  (``bench.stats.time_steps``) and its statistics (``make_result``);
* minimal: the smallest honest training loop written by hand: the same optimizer and loss in one
  ``tf.function`` (``jit_compile`` with ``--xla``), the data made beforehand, each step's loss fetched, n steps
  under one ``perf_counter`` pair.

Both steps are made (traced) and warmed up first; then rounds of a few steps each interleave the two (the order
rotating each round), so that drift in the load of a shared machine hits both alike; each round's pair ran back
to back, so the ratio is given per round and as the median of the rounds' ratios.
Goal: ours / minimal >= 0.97.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from resnet_inspect._tf import keras, tf  # noqa: E402
from resnet_inspect.bench import run as core  # noqa: E402  (after the log level is set)
from resnet_inspect.bench.plan import Precision, make_plan  # noqa: E402
from resnet_inspect.bench.stats import make_result, time_steps  # noqa: E402
from resnet_inspect.model.builder import build_from_spec  # noqa: E402
from resnet_inspect.model.spec import make_spec  # noqa: E402
from resnet_inspect.output.payloads import versions  # noqa: E402

WARMUP = 2


def ours(model: Any, batch: int, target: core.Target, xla: bool) -> Callable[[], None]:
    """`bench --mode train`'s own step (``resnet_inspect.bench.run.train_step``, as ``run_sweep`` makes it)."""
    return core.train_step(model, batch, target.devices[0], xla, Precision.FLOAT32)


def minimal(model: Any, batch: int, xla: bool) -> Callable[[], None]:
    """A hand-written training step: one tf.function, data made beforehand, the loss fetched."""
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
    return lambda: train(x, y).numpy()


def images_per_s_ours(step: Callable[[], None], batch: int, iterations: int, target: core.Target) -> float:
    """What bench reports for ``iterations`` timed steps: its timing loop and statistics."""
    times = time_steps(step, 0, iterations)
    return make_result(times, batch, target.label, Precision.FLOAT32, False, None, None, 0).row.images_per_s


def images_per_s_minimal(step: Callable[[], None], batch: int, iterations: int) -> float:
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    return batch * iterations / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=1, help="timed steps of each contender per round")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--xla", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    spec = make_spec(args.depth, input_size=(args.input_size, args.input_size))
    model = build_from_spec(spec)
    target = core.resolve_target(make_plan(device="cpu").device, False)
    steps = {"ours (bench --mode train)": ours(model, args.batch, target, args.xla),
             "minimal tf.function step": minimal(model, args.batch, args.xla)}
    for step in steps.values():  # traced; now warmed up
        for _ in range(WARMUP):
            step()
    contenders = {
        "ours (bench --mode train)": lambda: images_per_s_ours(steps["ours (bench --mode train)"], args.batch,
                                                               args.iterations, target),
        "minimal tf.function step": lambda: images_per_s_minimal(steps["minimal tf.function step"], args.batch,
                                                                 args.iterations),
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
