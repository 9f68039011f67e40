"""``resnet-inspect summary``: the model's table at stage, block or layer level, with exports."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Optional

import typer

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
    ModelOpt,
    UnsafeOpt,
    VersionOpt,
    WidthOpt,
    app,
    network_or_model,
    was_given,
)
from resnet_inspect.model.sources import ModelSource
from resnet_inspect.model.spec import DataFormat, Version
from resnet_inspect.output.export import check_distinct, check_output_path, write_csv, write_json
from resnet_inspect.output.payloads import report_payload

LevelOpt = Annotated[
    Level,
    typer.Option(
        "--level",
        "-l",
        case_sensitive=False,
        help="Rows: stage, block or layer (a --model whose layer names follow no block scheme: layer).",
    ),
]
VerifyOpt = Annotated[
    bool,
    typer.Option(
        "--verify",
        help="Cross-check the FLOPs with TensorFlow's profiler on the frozen inference graph, per layer type.",
    ),
]


def check_outputs(csv: Optional[Path], json: Optional[Path], inputs: Sequence[tuple[Path, str]] = ()) -> None:
    """Each output path can receive a file, the two are different files and neither is an input."""
    given = [(path, option) for path, option in ((csv, "--csv"), (json, "--json")) if path is not None]
    for path, option in given:
        check_output_path(path, option)
    check_distinct(given, inputs)


def model_input(source: ModelSource | None) -> list[tuple[Path, str]]:
    """The --model file as an input that no output may overwrite."""
    return [(source.path, "--model")] if source is not None and source.path is not None else []


@app.command()
def summary(
    ctx: typer.Context,
    depth: DepthOpt = None,
    blocks: BlocksOpt = None,
    block_type: BlockTypeOpt = None,
    input_size: InputSizeOpt = "224",
    classes: ClassesOpt = 1000,
    width: WidthOpt = 64,
    bias: BiasOpt = True,
    data_format: DataFormatOpt = DataFormat.CHANNELS_LAST,
    version: VersionOpt = Version.V2,
    model: ModelOpt = None,
    unsafe: UnsafeOpt = False,
    level: LevelOpt = Level.BLOCK,
    verify: VerifyOpt = False,
    csv: CsvOpt = None,
    json: JsonOpt = None,
) -> None:
    """Per-stage, per-block or per-layer output shapes, parameters, MACs and FLOPs."""
    spec, source, load_options = network_or_model(
        ctx, model, unsafe, depth, blocks, block_type, input_size, classes, width, bias, data_format, version
    )
    check_outputs(csv, json, model_input(source))

    # TensorFlow is imported from here on, once every option is valid.
    from resnet_inspect.analysis.inspection import inspect_model, open_model
    from resnet_inspect.output.render import make_console, print_report, print_verification

    keras_model, config, heading = open_model(
        spec, source, unsafe, load_options, warn=lambda message: sys.stderr.write(message + "\n")
    )
    report = inspect_model(keras_model, config)
    if not report.grouped and not was_given(ctx, "level"):
        level = Level.LAYER
        sys.stderr.write(
            f"note: {report.model_name} has no block or stage level (its layer names follow no known block "
            "scheme); showing layers\n"
        )
    rows = report.rows(level)  # raises for an unavailable level before anything is printed
    verification = None
    if verify:
        from resnet_inspect.analysis.tfprofile import verify_model

        verification = verify_model(keras_model, report)
    console = make_console()
    print_report(console, report, level, heading)
    if verification is not None:
        print_verification(console, verification)
    if csv is not None:
        write_csv(csv, rows)
    if json is not None:
        payload = report_payload(report, level)
        if verification is not None:
            from resnet_inspect.analysis.crosscheck import verification_payload

            payload["verify"] = verification_payload(verification)
        write_json(json, payload)
