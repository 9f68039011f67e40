"""``resnet-inspect summary``: the model's table at stage, block or layer level, with exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

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
    WidthOpt,
    app,
    network_spec,
)
from resnet_inspect.export import check_output_path, report_payload, write_csv, write_json
from resnet_inspect.records import Level
from resnet_inspect.specs import DataFormat

LevelOpt = Annotated[Level, typer.Option("--level", "-l", case_sensitive=False, help="Rows: stage, block or layer.")]


def check_outputs(csv: Optional[Path], json: Optional[Path]) -> None:
    for path, option in ((csv, "--csv"), (json, "--json")):
        if path is not None:
            check_output_path(path, option)


@app.command()
def summary(
    depth: DepthOpt = None,
    blocks: BlocksOpt = None,
    block_type: BlockTypeOpt = None,
    input_size: InputSizeOpt = "224",
    classes: ClassesOpt = 1000,
    width: WidthOpt = 64,
    bias: BiasOpt = True,
    data_format: DataFormatOpt = DataFormat.CHANNELS_LAST,
    level: LevelOpt = Level.BLOCK,
    csv: CsvOpt = None,
    json: JsonOpt = None,
) -> None:
    """Per-stage, per-block or per-layer output shapes, parameters, MACs and FLOPs."""
    spec = network_spec(depth, blocks, block_type, input_size, classes, width, bias, data_format)
    check_outputs(csv, json)

    from resnet_inspect.inspect import inspect_spec  # imports TensorFlow
    from resnet_inspect.render import make_console, print_report

    report = inspect_spec(spec)
    rows = report.rows(level)  # raises for an unavailable level before anything is printed
    print_report(make_console(), report, level, spec.describe())
    if csv is not None:
        write_csv(csv, rows)
    if json is not None:
        write_json(json, report_payload(report, level))
