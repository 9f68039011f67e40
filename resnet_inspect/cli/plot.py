"""``resnet-inspect plot``: PNG charts of one network's blocks, of several models, or of bench results."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from resnet_inspect.analysis.records import Level
from resnet_inspect.cli.app import command
from resnet_inspect.cli.options import BenchFileOpt, CacheOptions, Chosen, ModelOptions, NetworkOptions, check_png
from resnet_inspect.errors import UsageError
from resnet_inspect.model.spec import ResNetSpec
from resnet_inspect.output.export import check_distinct

if TYPE_CHECKING:
    from resnet_inspect.bench.stats import BenchRow

ModelsArg = Annotated[
    Optional[list[str]],
    typer.Argument(
        help="Models to place on a params-vs-MACs chart: resnet18 resnet34 resnet50-v1 ...", show_default=False
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="The PNG file to write.", show_default=False)]

# Options that choose one network: meaningless beside model names (each gives its depth) or a bench file.
ONE_NETWORK = ("depth", "blocks", "block_kind")


def _reject(network: NetworkOptions, fields: Sequence[str], why: str) -> None:
    given = network.spelled(fields)
    if given:
        raise UsageError(f"{', '.join(given)} cannot be used {why}")


@command
def plot(
    out: OutOpt,
    models: ModelsArg = None,
    bench: BenchFileOpt = None,
    *,
    network: NetworkOptions,
    source: ModelOptions,
    walks: CacheOptions,
) -> None:
    walks.apply()
    if source.model is not None and (models or bench is not None):
        raise UsageError("give model names, --bench or --model, one of them")
    if bench is not None:
        if models:
            raise UsageError("give model names or --bench, not both")
        _reject(network, network.given, "with --bench: the chart shows the bench file as it is")
        from resnet_inspect.bench.results import read_bench_csv

        check_png(out)
        plot_bench(read_bench_csv(bench), bench.name, out)
    elif models:
        from resnet_inspect.analysis import compare

        _reject(network, ONE_NETWORK, "with model names: each name gives its depth (and version, e.g. resnet50-v1)")
        names = []
        for name in models:
            parsed = compare.parse_model_name(name)
            if parsed is None:
                raise compare.unknown_model(name)
            names.append(parsed)
        specs = compare.model_specs(names, network.spec_for, network.member_spec)
        check_png(out)
        plot_models(specs, out, network.fold_bn)
    else:
        chosen = source.choose(network)
        check_png(out)
        check_distinct([(out, "--out")], chosen.inputs())
        plot_blocks(chosen, out)


def plot_blocks(chosen: Chosen, out: Path) -> None:
    """Blocks of the network, or of a --model (its layers when they follow no block scheme)."""
    from resnet_inspect.output import charts

    _, report, _, level = chosen.inspect(Level.BLOCK, False)  # imports TensorFlow
    name = chosen.spec.name if chosen.spec is not None else report.model_name
    figure = charts.block_chart(report.rows(level), f"{name}: parameters and FLOPs per {level.value}")
    charts.save_png(figure, out)
    typer.echo(f"wrote {out}")


def plot_models(specs: tuple[tuple[str, ResNetSpec], ...], out: Path, fold_bn: bool = False) -> None:
    from resnet_inspect.analysis import compare
    from resnet_inspect.output import charts
    from resnet_inspect.output.render import build_progress, make_console

    with build_progress(make_console(stderr=True), len(specs)) as step:
        entries = compare.build_models(specs, step, fold_bn)  # imports TensorFlow
    points = [(e.label, e.report.totals.params, e.report.totals.macs) for e in entries]
    h, w = specs[0][1].input_size
    charts.save_png(charts.models_chart(points, f"Parameters against MACs ({h}x{w} input)"), out)
    typer.echo(f"wrote {out}")


def plot_bench(rows: Sequence[BenchRow], name: str, out: Path) -> None:
    from resnet_inspect.bench.results import series
    from resnet_inspect.output import charts

    charts.save_png(charts.bench_chart(series(rows), f"{name}: latency and throughput"), out)
    typer.echo(f"wrote {out}")
