"""``resnet-inspect report``: the whole report of one network in a folder (CSV, JSON, Markdown, PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from resnet_inspect.analysis.memory import Dtype, check_batch_size
from resnet_inspect.cli.app import (
    BiasOpt,
    BlocksOpt,
    BlockTypeOpt,
    ClassesOpt,
    DataFormatOpt,
    DepthOpt,
    InputSizeOpt,
    VersionOpt,
    WidthOpt,
    app,
    network_spec,
)
from resnet_inspect.cli.memory import DtypeOpt, MeasureOpt, MemoryBatchOpt, check_measure
from resnet_inspect.cli.plot import BenchOpt
from resnet_inspect.model.spec import DataFormat, Version
from resnet_inspect.output.export import check_distinct, check_output_dir, check_output_path

OutDirOpt = Annotated[
    Path,
    typer.Option("--out", "-o", help="The folder to write the report into (created if missing).", show_default=False),
]


@app.command()
def report(
    out: OutDirOpt,
    depth: DepthOpt = None,
    blocks: BlocksOpt = None,
    block_type: BlockTypeOpt = None,
    input_size: InputSizeOpt = "224",
    classes: ClassesOpt = 1000,
    width: WidthOpt = 64,
    bias: BiasOpt = True,
    data_format: DataFormatOpt = DataFormat.CHANNELS_LAST,
    version: VersionOpt = Version.V2,
    batch_size: MemoryBatchOpt = 1,
    dtype: DtypeOpt = Dtype.FLOAT32,
    bench: BenchOpt = None,
    measure: MeasureOpt = False,
) -> None:
    """Write layers/blocks/stages CSV, report.json, report.md and its charts (PNG) into --out."""
    spec = network_spec(depth, blocks, block_type, input_size, classes, width, bias, data_format, version)
    check_batch_size(batch_size)
    if measure:
        check_measure(spec, batch_size, dtype)
    bench_rows = ()
    if bench is not None:
        from resnet_inspect.bench.results import read_bench_csv

        bench_rows = read_bench_csv(bench)
    check_output_dir(out, "--out")
    from resnet_inspect.output.bundle import FILES

    # Every file of the bundle can be written, and none of them is the --bench file read above.
    for name in FILES:
        check_output_path(out / name, "--out")
    check_distinct([(out / name, "--out") for name in FILES], [(bench, "--bench")] if bench is not None else [])

    from resnet_inspect.analysis.inspection import inspect_spec  # imports TensorFlow
    from resnet_inspect.output.bundle import make_bundle, with_measurement, write_bundle

    walked = inspect_spec(spec)
    bundle = make_bundle(
        walked, spec.describe(), batch_size, dtype, bench_rows, bench.name if bench is not None else None
    )
    written = write_bundle(with_measurement(bundle, spec, measure), out)
    typer.echo(f"wrote {len(written)} files into {out}: {', '.join(p.name for p in written)}")
