"""Every keras.applications constructor walked: parameters against ``count_params()``, MACs, unsupported types.

    python benchmarks/applications_sweep.py [--size N] [--only NAME ...]

Builds each constructor with ``weights=None`` at its default input size (or ``--size``; 224 for the
constructors built for any size, as ``--input-size 224`` would), walks it
with :func:`resnet_inspect.analysis.inspection.inspect_model` and prints one row per constructor:
whether the parameters equal Keras' ``count_params()``, the MACs (``≥`` when a layer type is
unsupported) and the unsupported types; published multiply-add counts where they exist are shown
beside ours with the ratio. One process, one model at a time (the Keras session is cleared between
models); the largest constructors need a few GiB.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

# Published multiply-adds at 224x224 (the papers' "FLOPs" / "Mult-Adds"):
# VGG16 (Simonyan & Zisserman; 15.47 G as reported by most counters), MobileNetV2 (Sandler et al., 300 M),
# ResNet50 (He et al., 3.8 G; 3.86 G with the keras.applications stride placement), MobileNet (569 M).
PUBLISHED: dict[str, float] = {"VGG16": 15.47e9, "MobileNetV2": 0.300e9, "ResNet50": 3.86e9, "MobileNet": 0.569e9}


def sweep_row(name: str, size: int | None) -> dict[str, object]:
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.inspection import inspect_model

    kwargs: dict[str, object] = {"weights": None}
    if size is not None:
        kwargs["input_shape"] = (size, size, 3)
    start = time.perf_counter()
    model = getattr(keras.applications, name)(**kwargs)
    if None in model.inputs[0].shape[1:]:  # built for any size (MobileNetV3): the default 224, as --input-size
        model = getattr(keras.applications, name)(**kwargs, input_shape=(224, 224, 3))
    report = inspect_model(model)
    totals = report.totals
    row = {
        "name": name,
        "input": "x".join(str(d) for d in model.inputs[0].shape[1:]),
        "params_equal": totals.params == model.count_params(),
        "params": totals.params,
        "macs": totals.macs if totals.macs is not None else totals.macs_counted,
        "complete": totals.macs is not None,
        "unsupported": ", ".join(totals.unsupported_types) or "-",
        "seconds": time.perf_counter() - start,
    }
    del model, report
    keras.backend.clear_session()
    gc.collect()
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args(argv)
    from resnet_inspect.model.sources import application_names

    names = args.only or list(application_names() or ())
    print("| constructor | input | params = count_params() | params | MACs | published | unsupported |")
    print("|---|---|---|---|---|---|---|")
    failures = 0
    for name in names:
        row = sweep_row(name, args.size)
        published = PUBLISHED.get(name) if row["input"].startswith("224x224") else None
        versus = f"{published / 1e9:.3f} G ({row['macs'] / published:.3f})" if published else "-"  # type: ignore[operator]
        macs = f"{'' if row['complete'] else '≥ '}{row['macs'] / 1e9:.3f} G"  # type: ignore[operator]
        failures += not row["params_equal"] or not row["complete"]
        print(
            f"| {name} | {row['input']} | {'yes' if row['params_equal'] else 'NO'} | {row['params']:,} | {macs} "
            f"| {versus} | {row['unsupported']} |",
            flush=True,
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
