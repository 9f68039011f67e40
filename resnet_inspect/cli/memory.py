"""``resnet-inspect memory``: activation and parameter memory, peak, training memory, intensity, receptive field."""

from __future__ import annotations

from resnet_inspect.analysis.records import Level
from resnet_inspect.cli.app import command
from resnet_inspect.cli.options import LevelOpt, MemoryOptions, NetworkOptions, Outputs


@command
def memory(
    network: NetworkOptions, level: LevelOpt = Level.BLOCK, *, estimate: MemoryOptions, outputs: Outputs
) -> None:
    spec = network.spec()
    estimate.check(spec)
    outputs.check()

    from resnet_inspect.analysis.inspection import inspect_spec  # imports TensorFlow
    from resnet_inspect.output.bundle import REPORT_COLUMNS, make_bundle, memory_payload, merged_rows, with_measurement
    from resnet_inspect.output.export import write_csv, write_json
    from resnet_inspect.output.memory_tables import print_memory
    from resnet_inspect.output.render import make_console

    report = inspect_spec(spec)
    report.rows(level)  # raises for an unavailable level before anything is measured or printed
    bundle = make_bundle(report, spec.describe(), estimate.batch_size, estimate.dtype)
    bundle = with_measurement(bundle, spec, estimate.measure)
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
    if outputs.csv is not None:
        write_csv(outputs.csv, merged_rows(bundle, level), REPORT_COLUMNS)
    if outputs.json is not None:
        write_json(outputs.json, memory_payload(bundle, level))
