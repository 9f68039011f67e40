"""``resnet-inspect summary``: the model's table at stage, block or layer level, with exports."""

from __future__ import annotations

from typing import Annotated

import typer

from resnet_inspect.analysis.records import Level
from resnet_inspect.cli.app import command
from resnet_inspect.cli.groups import was_given
from resnet_inspect.cli.options import CacheOptions, LevelOpt, ModelOptions, NetworkOptions, Outputs

VerifyOpt = Annotated[
    bool,
    typer.Option(
        "--verify",
        help="Cross-check the FLOPs with TensorFlow's profiler on the frozen inference graph, per layer type.",
    ),
]


@command
def summary(
    ctx: typer.Context,
    network: NetworkOptions,
    source: ModelOptions,
    level: LevelOpt = Level.BLOCK,
    verify: VerifyOpt = False,
    *,
    outputs: Outputs,
    walks: CacheOptions,
) -> None:
    walks.apply()
    chosen = source.choose(network)
    outputs.check(chosen.inputs())

    # TensorFlow is imported from here on, once every option is valid.
    from resnet_inspect.output.export import write_csv, write_json
    from resnet_inspect.output.payloads import report_payload
    from resnet_inspect.output.render import make_console, print_report, print_verification

    keras_model, report, heading, level = chosen.inspect(level, was_given(ctx, "level"), with_model=verify)
    rows = report.rows(level)
    verification = None
    if verify:
        from resnet_inspect.analysis.tfprofile import verify_model

        verification = verify_model(keras_model, report)
    console = make_console(wide=outputs.wide)
    print_report(console, report, level, heading)
    if verification is not None:
        print_verification(console, verification)
    if outputs.csv is not None:
        write_csv(outputs.csv, rows)
    if outputs.json is not None:
        payload = report_payload(report, level)
        if verification is not None:
            from resnet_inspect.analysis.crosscheck import verification_payload

            payload["verify"] = verification_payload(verification)
        write_json(outputs.json, payload)
