"""``resnet-inspect memory``: activation and parameter memory, peak, training memory, intensity, receptive field."""

from __future__ import annotations

from typing import Annotated

import typer

from resnet_inspect.analysis.memory import Dtype, check_batch_size
from resnet_inspect.analysis.records import Level
from resnet_inspect.cli.app import (
    BiasOpt,
    BlocksOpt,
    BlockTypeOpt,
    ClassesOpt,
    CsvOpt,
    DataFormatOpt,
    DepthOpt,
    InputSizeOpt,
    JsonOpt,
    VersionOpt,
    WidthOpt,
    app,
    network_spec,
)
from resnet_inspect.cli.summary import LevelOpt, check_outputs
from resnet_inspect.model.spec import DataFormat, ResNetSpec, Version

# Shared with ``report``.
MemoryBatchOpt = Annotated[int, typer.Option("--batch-size", "-b", help="Batch size of the memory estimate.")]
DtypeOpt = Annotated[
    Dtype, typer.Option("--dtype", case_sensitive=False, help="Element type of activations and parameters.")
]
MeasureOpt = Annotated[
    bool,
    typer.Option(
        "--measure/--no-measure",
        help="Also measure the peak of a real forward pass (in a fresh process; takes a few seconds).",
    ),
]


def check_measure(spec: ResNetSpec, batch_size: int, dtype: Dtype) -> None:
    """Refuse, before anything is built, a --measure whose forward pass cannot fit: the weights and
    layers at ``dtype``, and the activation peak for the batch, on the GPU if nvidia-smi shows one
    (the measurement runs there), else on the host."""
    from resnet_inspect.analysis.budget import at_input, check_elements, check_fits
    from resnet_inspect.analysis.estimate import KERAS_LAYER_BYTES, estimate
    from resnet_inspect.bench.hardware import gpu_free_bytes, host_free_bytes

    found = estimate(spec)
    check_elements(at_input(spec, batch_size), found.largest_tensor, batch_size)
    gpu = gpu_free_bytes()
    check_fits(
        [
            (f"{dtype.value} weights", found.params * dtype.bytes),
            (f"{found.layers:,} Keras layers", found.layers * KERAS_LAYER_BYTES),
            (f"activations of batch {batch_size}", found.activation_bytes(batch_size, dtype.bytes)),
        ],
        gpu if gpu is not None else host_free_bytes(),
        f"--measure on {spec.name}",
        "GPU 0 (nvidia-smi)" if gpu is not None else "the host",
    )


@app.command()
def memory(
    depth: DepthOpt = None,
    blocks: BlocksOpt = None,
    block_type: BlockTypeOpt = None,
    input_size: InputSizeOpt = "224",
    classes: ClassesOpt = 1000,
    width: WidthOpt = 64,
    bias: BiasOpt = True,
    data_format: DataFormatOpt = DataFormat.CHANNELS_LAST,
    version: VersionOpt = Version.V2,
    level: LevelOpt = Level.BLOCK,
    batch_size: MemoryBatchOpt = 1,
    dtype: DtypeOpt = Dtype.FLOAT32,
    measure: MeasureOpt = False,
    csv: CsvOpt = None,
    json: JsonOpt = None,
) -> None:
    """Memory per unit (activations, parameters), inference peak, training memory, FLOPs/byte, receptive field."""
    spec = network_spec(depth, blocks, block_type, input_size, classes, width, bias, data_format, version)
    check_batch_size(batch_size)
    if measure:
        check_measure(spec, batch_size, dtype)
    check_outputs(csv, json)

    from resnet_inspect.analysis.inspection import inspect_spec  # imports TensorFlow
    from resnet_inspect.output.bundle import REPORT_COLUMNS, make_bundle, memory_payload, merged_rows, with_measurement
    from resnet_inspect.output.export import write_csv, write_json
    from resnet_inspect.output.render import make_console, print_memory

    report = inspect_spec(spec)
    report.rows(level)  # raises for an unavailable level before anything is measured or printed
    bundle = with_measurement(make_bundle(report, spec.describe(), batch_size, dtype), spec, measure)
    print_memory(
        make_console(),
        bundle.heading,
        bundle.units[level],
        bundle.memory[level],
        bundle.totals,
        report.totals.params,
        bundle.measured,
        level,
    )
    if csv is not None:
        write_csv(csv, merged_rows(bundle, level), REPORT_COLUMNS)
    if json is not None:
        write_json(json, memory_payload(bundle, level))
