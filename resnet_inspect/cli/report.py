"""``resnet-inspect report``: the whole report of one network in a folder (CSV, JSON, Markdown, PNG)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from resnet_inspect.cli.app import command
from resnet_inspect.cli.options import BenchFileOpt, CacheOptions, MemoryOptions, ModelOptions, NetworkOptions
from resnet_inspect.errors import UsageError
from resnet_inspect.output.export import check_distinct, check_output_dir, check_output_path

OutDirOpt = Annotated[
    Path,
    typer.Option("--out", "-o", help="The folder to write the report into (created if missing).", show_default=False),
]


ProfileOpt = Annotated[
    bool,
    typer.Option("--profile/--no-profile", help="Also measure where the forward pass's time goes (as `profile` at "
                 "--batch-size and the precision of --dtype, on the default device): a Profile section and "
                 "roofline.png."),
]
# --dtype -> the precision policy --profile times it under.
PROFILE_PRECISIONS = {"float32": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


@command
def report(
    out: OutDirOpt,
    network: NetworkOptions,
    source: ModelOptions,
    estimate: MemoryOptions,
    bench: BenchFileOpt = None,
    profile: ProfileOpt = False,
    *,
    walks: CacheOptions,
) -> None:
    walks.apply()
    chosen = source.choose(network)
    estimate.check(chosen.spec, chosen.fold_bn)
    plan = None
    if profile:
        from resnet_inspect.bench.plan import make_plan
        from resnet_inspect.cli.profiling import check_profile

        if estimate.dtype.value not in PROFILE_PRECISIONS:
            raise UsageError(f"--profile times the policies of float32, float16 and bfloat16; --dtype "
                             f"{estimate.dtype.value} has none")
        plan = make_plan([estimate.batch_size], [PROFILE_PRECISIONS[estimate.dtype.value]])
        check_profile(chosen, plan, source)
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
    if plan is not None:
        from resnet_inspect.analysis.budget import RUN_METADATA
        from resnet_inspect.cli.profiling import measure_profile
        from resnet_inspect.output.bundle import Profile

        found = measure_profile(chosen, plan, Level.BLOCK, show=False)
        environment = tuple((key, value) for key, value in found.environment if key not in RUN_METADATA)
        from resnet_inspect.bench.breakdown import trace_note

        bundle = dataclasses.replace(bundle, profile=Profile(found.rows[0], found.roofline, found.bandwidth,
                                                             environment, trace_note(found.runs[0])))
    written = write_bundle(bundle, out)
    typer.echo(f"wrote {len(written)} files into {out}: {', '.join(p.name for p in written)}")
