"""``resnet-inspect memory``: activation and parameter memory, peak, training memory, intensity, receptive field."""

from __future__ import annotations

import typer

from resnet_inspect.analysis.records import Level
from resnet_inspect.cli.app import command
from resnet_inspect.cli.groups import was_given
from resnet_inspect.cli.options import CacheOptions, LevelOpt, MemoryOptions, ModelOptions, NetworkOptions, Outputs


@command
def memory(
    ctx: typer.Context,
    network: NetworkOptions,
    source: ModelOptions,
    level: LevelOpt = Level.BLOCK,
    *,
    estimate: MemoryOptions,
    outputs: Outputs,
    walks: CacheOptions,
) -> None:
    walks.apply()
    chosen = source.choose(network)
    estimate.check(chosen.spec, chosen.fold_bn)
    outputs.check(chosen.inputs())

    from resnet_inspect.output.bundle import REPORT_COLUMNS, make_bundle, memory_payload, merged_rows, with_measurement
    from resnet_inspect.output.export import write_csv, write_json
    from resnet_inspect.output.memory_tables import print_memory
    from resnet_inspect.output.render import make_console

    _, report, heading, level = chosen.inspect(level, was_given(ctx, "level"))  # imports TensorFlow
    bundle = make_bundle(report, heading, estimate.batch_size, estimate.dtype)
    if chosen.spec is not None:
        bundle = with_measurement(bundle, chosen.spec, estimate.measure)
    print_memory(
        make_console(wide=outputs.wide),
        bundle.heading,
        bundle.units[level],
        bundle.memory[level],
        bundle.totals,
        report.totals.params,
        bundle.measured,
        level,
    )
    if outputs.csv is not None:
        write_csv(outputs.csv, merged_rows(bundle, level), REPORT_COLUMNS)
    if outputs.json is not None:
        write_json(outputs.json, memory_payload(bundle, level))
