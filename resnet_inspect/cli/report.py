"""``resnet-inspect report``: the whole report of one network in a folder (CSV, JSON, Markdown, PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from resnet_inspect.cli.app import command
from resnet_inspect.cli.options import BenchFileOpt, MemoryOptions, NetworkOptions
from resnet_inspect.output.export import check_distinct, check_output_dir, check_output_path

OutDirOpt = Annotated[
    Path,
    typer.Option("--out", "-o", help="The folder to write the report into (created if missing).", show_default=False),
]


@command
def report(out: OutDirOpt, network: NetworkOptions, estimate: MemoryOptions, bench: BenchFileOpt = None) -> None:
    spec = network.spec()
    estimate.check(spec)
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
    from resnet_inspect.output.bundle import make_bundle, with_measurement
    from resnet_inspect.output.report_files import write_bundle

    walked = inspect_spec(spec)
    bundle = make_bundle(
        walked, spec.describe(), estimate.batch_size, estimate.dtype, bench_rows,
        bench.name if bench is not None else None,
    )
    written = write_bundle(with_measurement(bundle, spec, estimate.measure), out)
    typer.echo(f"wrote {len(written)} files into {out}: {', '.join(p.name for p in written)}")
