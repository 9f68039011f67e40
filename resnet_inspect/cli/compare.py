"""``resnet-inspect compare``: regular vs bottleneck block, or model vs model, side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Optional

import typer

from resnet_inspect.analysis import budget
from resnet_inspect.analysis import compare as core
from resnet_inspect.analysis.estimate import estimate_block
from resnet_inspect.cli.app import command
from resnet_inspect.cli.groups import given_options
from resnet_inspect.cli.options import Architecture, CacheOptions, Outputs
from resnet_inspect.errors import UsageError
from resnet_inspect.model.design import knob_words
from resnet_inspect.model.sources import ModelSource, check_safe, parse_source
from resnet_inspect.model.spec import DataFormat, ResNetSpec, Version

NamesArg = Annotated[
    Optional[list[str]],
    typer.Argument(
        help="Two or more names: blocks (regular bottleneck) or models (resnet18 resnet34 resnet50-v2 ...).",
        show_default=False,
    ),
]
FiltersOpt = Annotated[int, typer.Option("--filters", help="Blocks: filters of the block (the seeds' example: 64).")]
SizeOpt = Annotated[
    int, typer.Option("--size", help="Blocks: side of the input map for MACs/FLOPs (56: block layer 1 at 224).")
]
FirstOpt = Annotated[
    bool,
    typer.Option(
        "--first", help="Blocks: the first block of block layer 1, with its shortcut projection (v2; v1 where needed)."
    ),
]
ModelsOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--model",
        "-m",
        help="Models: another model beside the names (repeatable): keras:<Application> or a .keras / .h5 file "
        "(Keras safe mode).",
        show_default=False,
    ),
]
CompareLevelOpt = Annotated[
    core.CompareLevel,
    typer.Option("--level", "-l", case_sensitive=False, help="Models: 'stage' adds per-stage columns."),
]

# Options that mean something for one kind of comparison only, by parameter name.
BLOCK_ONLY = ("filters", "size", "first")
MODEL_ONLY = ("input_size", "classes", "width", "level", "stem", "shortcut", "stride_at", "fold_bn")


def reject_given(ctx: typer.Context, params: tuple[str, ...], applies_to: str) -> None:
    """A usage error if the user set an option that the chosen comparison would silently ignore."""
    given = given_options(ctx, params)
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise UsageError(f"{', '.join(given)} only {verb} to {applies_to}")


def model_heading(specs: list[ResNetSpec]) -> str:
    """What every model shares (the options apply to all), and the versions compared."""
    spec = specs[0]
    h, w = spec.input_size
    bias = "conv bias" if spec.use_bias else "no conv bias"
    versions = "/".join(dict.fromkeys(s.version.value for s in specs))
    return (
        f"{len(specs)} models ({versions}), input {h}x{w}x3, {spec.classes} classes, width {spec.width}, "
        f"{bias}, {spec.data_format.value}"
    )


def block_heading(setup: core.BlockSetup, names: list[str]) -> str:
    bias = "conv bias" if setup.use_bias else "no conv bias"
    shortcut = "first block of block layer 1" if setup.first else "identity shortcut"
    version = Version(setup.version)
    knobs = "".join(f", {words}" for words in knob_words(setup.knobs()))
    return (
        f"{' vs '.join(names)} block: {setup.filters} filters, {shortcut}, {setup.size}x{setup.size} map, "
        f"{bias}, {DataFormat(setup.data_format).value}, {version.value} "
        f"({version.activation}, the network's block code){knobs}"
    )


@command
def compare(
    ctx: typer.Context,
    names: NamesArg = None,
    filters: FiltersOpt = core.DEFAULT_FILTERS,
    size: SizeOpt = core.DEFAULT_SIZE,
    first: FirstOpt = False,
    *,
    network: Architecture,
    level: CompareLevelOpt = core.CompareLevel.MODEL,
    outputs: Outputs,
    model: ModelsOpt = None,
    walks: CacheOptions,
) -> None:
    walks.apply()
    sources = [parse_source(text) for text in model or []]
    for source in sources:
        check_safe(source, False)  # a Lambda layer is refused before Keras is loaded
    names = names or []
    selection = (
        core.Selection(models=(_model_name(names[0]),))
        if len(names) == 1 and sources
        else core.parse_names(names, len(sources))
    )
    if selection.blocks and sources:
        raise UsageError("--model applies to model comparisons, not to blocks")
    if selection.blocks:
        reject_given(ctx, MODEL_ONLY, "model comparisons (e.g. resnet34 resnet50)")
        knobs = {k: getattr(network, k) for k in core.BLOCK_KNOBS}  # the bottleneck's (ResNeXt, wide, SE)
        setups = [
            core.BlockSetup(kind, filters, size, first, network.use_bias, network.data_format, network.version,
                            **knobs)
            for kind in selection.blocks
        ]
        for setup in setups:
            check_block_builds(setup)
        outputs.check()
        compare_blocks(setups, outputs)
        return
    reject_given(ctx, BLOCK_ONLY, "block comparisons (regular bottleneck)")
    # A plain name takes --arch-version; a suffixed one (resnet50-v1) its own.
    specs = core.model_specs(selection.models, network.spec_for, network.member_spec)
    outputs.check([(s.path, "--model") for s in sources if s.path is not None])
    compare_models(specs, level, outputs, sources, network.fold_bn)


def _model_name(name: str) -> core.ModelName:
    """The one model name beside --model (parse_names wants two names)."""
    parsed = core.parse_model_name(name)
    if parsed is None:
        raise core.unknown_model(name)
    return parsed


def check_block_builds(setup: core.BlockSetup) -> None:
    """Refuse, before building, a block too large for this machine (e.g. --filters 10**12)."""
    found = estimate_block(
        setup.kind, setup.filters, setup.in_channels, setup.size, setup.first, setup.version, setup.use_bias,
        setup.data_format, setup.design,
    )
    what = f"a {setup.kind.value} block of {setup.filters} filters on a {setup.size}x{setup.size} map"
    budget.check_elements(what, found.largest_tensor)
    budget.check_fits(budget.build_need(found), budget.host_limit())


def compare_blocks(setups: list[core.BlockSetup], outputs: Outputs) -> None:
    from resnet_inspect.output import payloads
    from resnet_inspect.output.compare_tables import print_block_comparison
    from resnet_inspect.output.export import write_csv, write_json
    from resnet_inspect.output.render import make_console

    sides = core.compare_blocks(setups)  # imports TensorFlow
    heading = block_heading(setups[0], [s.kind.value for s in setups])
    print_block_comparison(make_console(wide=outputs.wide), sides, heading)
    if outputs.csv is not None:
        write_csv(outputs.csv, payloads.block_table(sides), payloads.BLOCK_COLUMNS)
    if outputs.json is not None:
        write_json(outputs.json, payloads.blocks_payload(sides))


def compare_models(
    specs: tuple[tuple[str, ResNetSpec], ...],
    level: core.CompareLevel,
    outputs: Outputs,
    sources: Sequence[ModelSource] = (),
    fold_bn: bool = False,
) -> None:
    from resnet_inspect.cli.options import warn
    from resnet_inspect.output import payloads
    from resnet_inspect.output.compare_tables import print_model_comparison
    from resnet_inspect.output.export import write_csv, write_json
    from resnet_inspect.output.render import build_progress, make_console

    with build_progress(make_console(stderr=True), len(specs)) as step:
        entries = core.build_models(specs, step, fold_bn)  # imports TensorFlow
    entries += tuple(_walk_source(source, fold_bn) for source in sources)
    rows = core.compare_models(entries)
    stages = core.stage_names(rows) if level is core.CompareLevel.STAGE else []
    heading = model_heading([spec for _, spec in specs]) if specs else f"{len(entries)} models"
    if sources:
        heading += f"; --model: {', '.join(s.text for s in sources)}"
    if fold_bn:
        heading += "; deployed: BNs folded into their convolutions (--fold-bn)"
        for entry in entries:
            for note in entry.report.notes:
                warn(f"note: {entry.label}: {note}")
    print_model_comparison(make_console(wide=outputs.wide), rows, heading, stages)
    if outputs.csv is not None:
        write_csv(outputs.csv, payloads.model_table(rows, level))
    if outputs.json is not None:
        write_json(outputs.json, payloads.models_payload(entries, rows, level))


def _walk_source(source: ModelSource, fold_bn: bool = False) -> core.ModelEntry:
    """A --model of the comparison, loaded (safe mode), folded with ``fold_bn``, and walked (imports TensorFlow)."""
    from resnet_inspect.analysis.inspection import inspect_model, open_model

    keras_model, config, _ = open_model(None, source, fold_bn=fold_bn)
    return core.ModelEntry(source.text, None, inspect_model(keras_model, config))
