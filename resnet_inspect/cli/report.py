"""``resnet-inspect report``: the whole report of one network in a folder (CSV, JSON, Markdown, PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from resnet_inspect.cli.app import command
from resnet_inspect.cli.options import BenchFileOpt, CacheOptions, MemoryOptions, ModelOptions, NetworkOptions
from resnet_inspect.output.export import check_distinct, check_output_dir, check_output_path

OutDirOpt = Annotated[
    Path,
    typer.Option("--out", "-o", help="The folder to write the report into (created if missing).", show_default=False),
]


@command
def report(
    out: OutDirOpt,
    network: NetworkOptions,
    source: ModelOptions,
    estimate: MemoryOptions,
    bench: BenchFileOpt = None,
    *,
    walks: CacheOptions,
) -> None:
    walks.apply()
    chosen = source.choose(network)
    estimate.check(chosen.spec, chosen.fold_bn)
    bench_rows = ()
    if bench is not None:
        from resnet_inspect.bench.results import read_bench_csv

        bench_rows = read_bench_csv(bench)
    check_output_dir(out, "--out")
    from resnet_inspect.output.bundle import FILES

    # Every file of the bundle can be written, and none of them is the --bench file read above.
    for name in FILES:
        check_output_path(out / name, "--out")
    inputs = [*chosen.inputs(), *([(bench, "--bench")] if bench is not None else [])]
    check_distinct([(out / name, "--out") for name in FILES], inputs)
    from resnet_inspect.output.report_files import check_report_folder

    check_report_folder(out)

    from resnet_inspect.analysis.records import Level
    from resnet_inspect.output.bundle import make_bundle, with_measurement
    from resnet_inspect.output.report_files import write_bundle

    _, walked, heading, _ = chosen.inspect(Level.LAYER, True)  # imports TensorFlow
    bundle = make_bundle(
        walked, heading, estimate.batch_size, estimate.dtype, bench_rows, bench.name if bench is not None else None
    )
    if chosen.spec is not None:
        bundle = with_measurement(bundle, chosen.spec, estimate.measure)
    written = write_bundle(bundle, out)
    typer.echo(f"wrote {len(written)} files into {out}: {', '.join(p.name for p in written)}")
