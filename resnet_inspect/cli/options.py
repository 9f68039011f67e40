"""The options that several commands share, each declared once, and what the command line makes of them.

Groups (:mod:`resnet_inspect.cli.groups`) reach a command as one value each: :class:`NetworkOptions`
(the nine network options), :class:`Architecture` (those of them that hold for any depth, for the
commands that take model names), :class:`ModelOptions` (``--model``/``--unsafe``), :class:`Outputs`
(``--csv``/``--json``) and :class:`MemoryOptions` (memory and report). The network options are
named as ResNetSpec's fields and make_spec's keywords, so a library error about a field
(``classes must be ...``) reaches the user with the option's name (``--classes must be ...``,
:class:`resnet_inspect.cli.groups.NamingCommand`).

Nothing here imports numpy, pandas, matplotlib or TensorFlow: ``--help`` and usage errors answer at once.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NewType, Optional

import typer

from resnet_inspect.analysis.budget import Dtype, check_build, host_limit
from resnet_inspect.analysis.records import Level
from resnet_inspect.cli.groups import TYPED_DEFAULT, OptionGroup
from resnet_inspect.errors import UsageError
from resnet_inspect.model.design import KNOBS, Shortcut, Stem, StrideAt
from resnet_inspect.model.family import member_spec
from resnet_inspect.model.sources import ModelSource, check_safe, parse_source
from resnet_inspect.model.spec import (
    DEFAULT_CLASSES,
    DEFAULT_DEPTH,
    DEFAULT_INPUT_SIZE,
    DEFAULT_WIDTH,
    BlockKind,
    DataFormat,
    ResNetSpec,
    Version,
    check_positive,
    make_spec,
    parse_blocks,
    parse_input_size,
)
from resnet_inspect.output.export import check_distinct, check_output_path

# The network options that are ResNetSpec fields of the same name (what --arch's member takes on top).
SPEC_FIELDS = ("input_size", "classes", "width", "use_bias", "data_format", "version", "blocks", "block_kind", *KNOBS)
# Parsed by typer through `parser=`; named types so that typer does not read a tuple as nargs.
Layout = NewType("Layout", tuple)
Side = NewType("Side", tuple)


def _parsed(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    """A typer parser that parses text and leaves a default that is already parsed as it is."""
    return lambda value: parse(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class Architecture(OptionGroup):
    """How a ResNet is built whatever its depth: the network options of the commands that take model names."""

    input_size: Annotated[
        Side,
        typer.Option("--input-size", parser=_parsed(parse_input_size), metavar="N|HxW", help="Input side N or HxW."),
    ] = field(default=Side((DEFAULT_INPUT_SIZE,) * 2), metadata={TYPED_DEFAULT: str(DEFAULT_INPUT_SIZE)})
    classes: Annotated[int, typer.Option("--classes", help="Number of classes of the dense logits.")] = DEFAULT_CLASSES
    width: Annotated[
        int, typer.Option("--width", help="Filters of the initial conv (doubled per block layer).")
    ] = DEFAULT_WIDTH
    use_bias: Annotated[
        bool, typer.Option("--bias/--no-bias", help="Conv2D bias (Keras default, as the seeds).")
    ] = True
    data_format: Annotated[DataFormat, typer.Option("--data-format", case_sensitive=False)] = DataFormat.CHANNELS_LAST
    version: Annotated[
        Version,
        typer.Option(
            "--arch-version",
            case_sensitive=False,
            help="v2: the seeds' pre-activation ResNet; v1: the paper's original post-activation network.",
        ),
    ] = Version.V2
    # The family's knobs (resnet_inspect.model.design), for custom variants; --arch names the published ones.
    groups: Annotated[int, typer.Option("--groups", help="Bottleneck: groups of its 3x3 conv (ResNeXt's C).")] = 1
    width_per_group: Annotated[
        Optional[int],
        typer.Option("--width-per-group", help="Bottleneck: channels per group in block layer 1 (ResNeXt's d)."),
    ] = None
    width_multiplier: Annotated[
        int, typer.Option("--width-multiplier", help="Bottleneck: inner width x k (Wide ResNet's k).")
    ] = 1
    stem: Annotated[
        Stem, typer.Option("--stem", case_sensitive=False, help="7x7 conv + pool, deep (ResNet-C: three 3x3), "
                           "or cifar (one 3x3 at stride 1, no pool).")
    ] = Stem.PLAIN
    shortcut: Annotated[
        Shortcut, typer.Option("--shortcut", case_sensitive=False, help="Downsampling shortcut: projection, "
                               "avg-pool (ResNet-D) or zero-pad (option A, no parameters).")
    ] = Shortcut.PROJECTION
    se_ratio: Annotated[
        Optional[int], typer.Option("--se-ratio", help="Squeeze-and-excitation on each block, reduction r.")
    ] = None
    stride_at: Annotated[
        Optional[StrideAt], typer.Option("--stride-at", case_sensitive=False,
                                         help="Bottleneck conv that strides (default: v1 1x1, v2 3x3).")
    ] = None

    fold_bn: Annotated[
        bool,
        typer.Option("--fold-bn", help="The deployed network: fold each BatchNormalization that directly follows a "
                     "convolution into it, as inference engines do (those that cannot fold are listed)."),
    ] = False

    def spec_for(
        self, depth: int | None, blocks: tuple[int, ...] | None = None, block_kind: BlockKind | None = None
    ) -> ResNetSpec:
        """The validated spec of this architecture at ``depth`` (or layout ``blocks``), refused here
        if it cannot be built on this machine (:func:`resnet_inspect.analysis.budget.check_build`)."""
        spec = make_spec(
            depth,
            blocks=blocks,
            block_kind=block_kind,
            input_size=self.input_size,
            classes=self.classes,
            width=self.width,
            use_bias=self.use_bias,
            data_format=self.data_format,
            version=self.version,
            **{knob: getattr(self, knob) for knob in KNOBS},
        )
        check_build(spec, host_limit())
        return spec

    def member_spec(self, name: str) -> ResNetSpec:
        """The family member ``name`` as published, the options the user gave on top (checked as spec_for)."""
        spec = member_spec(name, {f: getattr(self, f) for f in self.given if f in SPEC_FIELDS})
        check_build(spec, host_limit())
        return spec


@dataclass(frozen=True)
class NetworkOptions(Architecture):
    """The nine network options: which layout (a depth or blocks per block layer), and how it is built."""

    depth: Annotated[
        Optional[int],
        typer.Option("--depth", "-d",
                     help="Published depth: 18, 34, 50, 101, 152 or 200 (default 50 without --blocks)."),
    ] = None
    blocks: Annotated[
        Optional[Layout],
        typer.Option("--blocks", parser=_parsed(parse_blocks), metavar="N,N,...",
                     help="Custom layout: blocks per block layer, e.g. 3,4,6,3."),
    ] = None
    block_kind: Annotated[
        Optional[BlockKind],
        typer.Option("--block-type", case_sensitive=False, help="Block kind for a custom layout (default bottleneck)."),
    ] = None

    arch: Annotated[
        Optional[str],
        typer.Option("--arch", "-a", help="A network of the ResNet family by name, as published (e.g. resnet50d, "
                     "resnext50_32x4d, resnet56; `resnet-inspect archs` lists them); options given change it."),
    ] = None

    def spec(self) -> ResNetSpec:
        """The network these options describe: the default depth unless a depth or a layout is given."""
        if self.arch is not None:
            if self.depth is not None:
                raise UsageError("give either --arch or --depth, not both: the name gives its depth")
            return self.member_spec(self.arch)
        if self.depth is not None and self.blocks is not None:
            raise UsageError("give either --depth or --blocks, not both")
        depth = DEFAULT_DEPTH if self.depth is None and self.blocks is None else self.depth
        return self.spec_for(depth, self.blocks, self.block_kind)


@dataclass(frozen=True)
class Chosen:
    """What a command inspects: a network to build (``spec``) or a --model to load, validated, no TensorFlow."""

    spec: ResNetSpec | None
    source: ModelSource | None = None
    unsafe: bool = False
    load_options: dict[str, Any] = field(default_factory=dict)
    fold_bn: bool = False  # the deployed network (--fold-bn): open() folds the BNs that follow convolutions

    def inputs(self) -> list[tuple[Path, str]]:
        """The --model file as an input that no output may overwrite."""
        return [(self.source.path, "--model")] if self.source is not None and self.source.path is not None else []

    def open(
        self, warn: Callable[[str], None] | None = None, initialize: bool = True
    ) -> tuple[Any, dict[str, Any], str]:
        """Build or load the model (imports TensorFlow): :func:`resnet_inspect.analysis.inspection.open_model`."""
        from resnet_inspect.analysis.inspection import open_model

        return open_model(self.spec, self.source, self.unsafe, self.load_options, warn=warn, initialize=initialize,
                          fold_bn=self.fold_bn)

    def unfolded(self) -> Chosen:
        """The same network as built, its BNs left as they are (what --fold-bn's network is set beside)."""
        return dataclasses.replace(self, fold_bn=False)

    def cache_identity(self) -> dict[str, Any] | None:
        """What decides this model's walk, for the cache of walks; None for what is not cached (a file loaded
        with --unsafe: its code runs each time it is loaded)."""
        from resnet_inspect.analysis import cache

        if self.source is None:
            return cache.spec_identity(self.spec, self.fold_bn)
        if self.source.application is not None:
            return {"application": self.source.application, "options": dict(sorted(self.load_options.items())),
                    "fold_bn": self.fold_bn}
        if self.unsafe or self.source.contents is None:
            return None
        import hashlib

        # The heading quotes the --model as given, so the text is part of what is cached.
        return {"file_sha256": hashlib.sha256(self.source.contents.data).hexdigest(), "text": self.source.text,
                "fold_bn": self.fold_bn}

    def walk(self) -> Any:
        """Open and walk the model (imports TensorFlow) as :class:`resnet_inspect.analysis.cache.Walked`: the
        report with the notes of the walk, and the heading. The spec's network is built for walking only."""
        from resnet_inspect.analysis.cache import Walked
        from resnet_inspect.analysis.inspection import inspect_model

        keras_model, config, heading = self.open(warn, initialize=False)
        return Walked(inspect_model(keras_model, config), heading)

    def inspect(self, level: Level, level_given: bool, with_model: bool = False) -> tuple[Any, Any, str, Level]:
        """Open and walk the model: (Keras model, report, heading, level shown).

        The walk comes from the cache of walks (:mod:`resnet_inspect.analysis.cache`, no TensorFlow) when it
        holds this model, and the Keras model is then None; ``with_model`` builds the model with its values
        (``--verify`` runs it) and walks that. The report's notes go to stderr. A model whose layer names
        follow no block scheme is shown by layer, with a note, unless ``--level`` was given (then the level
        is refused, as before anything is printed)."""
        keras_model = None
        if with_model:
            from resnet_inspect.analysis.inspection import inspect_model

            keras_model, config, heading = self.open(warn)
            report = inspect_model(keras_model, config)
        else:
            from resnet_inspect.analysis import cache

            identity = self.cache_identity()
            walked = self.walk() if identity is None else cache.walked("inspect_model", identity, self.walk)
            report, heading = walked.report, walked.heading
        for note in report.notes:
            warn(f"note: {note}")
        if not report.grouped and not level_given and level is not Level.LAYER:
            level = Level.LAYER
            warn(f"note: {report.model_name} has no block or stage level (its layer names follow no known block "
                 "scheme); showing layers")
        report.rows(level)  # raises for an unavailable level before anything is printed
        return keras_model, report, heading, level


# A keras.applications constructor takes these network options; a model file takes none.
APPLICATION_FIELDS = ("input_size", "classes")


@dataclass(frozen=True)
class ModelOptions(OptionGroup):
    """Another model instead of a built ResNet."""

    model: Annotated[
        Optional[str],
        typer.Option(
            "--model",
            "-m",
            help="Inspect another model instead: keras:<Application> (e.g. keras:ResNet50, built with "
            "weights=None) or a .keras / .h5 file (loaded in Keras safe mode).",
        ),
    ] = None
    unsafe: Annotated[
        bool,
        typer.Option(
            "--unsafe",
            help="Load a --model file with safe mode off: allows Lambda layers and runs their code. "
            "Trusted files only.",
        ),
    ] = False

    def choose(self, network: NetworkOptions) -> Chosen:
        """The network of the options, or ``--model`` and the network options it takes (no TensorFlow)."""
        if self.model is None:
            if self.unsafe:
                raise UsageError("--unsafe applies to a --model file")
            return Chosen(network.spec(), fold_bn=network.fold_bn)
        source = parse_source(self.model)
        allowed = (*APPLICATION_FIELDS, "fold_bn") if source.application is not None else ("fold_bn",)
        conflicts = network.spelled(set(network.given) - set(allowed))
        if conflicts:
            takes = "; keras:<Application> takes --input-size and --classes" if source.application is None else ""
            raise UsageError(
                f"{conflicts[0]} cannot be combined with --model: the model defines its own network{takes}"
            )
        if self.unsafe and source.path is None:
            raise UsageError(f"--unsafe applies to a model file, not to {self.model}")
        check_safe(source, self.unsafe)  # a Lambda layer is refused here, before Keras is loaded
        options = {name: getattr(network, name) for name in APPLICATION_FIELDS if name in network.given}
        if "classes" in options:
            check_positive("classes", network.classes)
        return Chosen(None, source, self.unsafe, options, fold_bn=network.fold_bn)


@dataclass(frozen=True)
class Outputs(OptionGroup):
    """The table as files, and how wide the console's tables may be."""

    csv: Annotated[Optional[Path], typer.Option("--csv", help="Write the table as CSV.", dir_okay=True)] = None
    json: Annotated[Optional[Path], typer.Option("--json", help="Write the table, totals and config as JSON.")] = None
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="Print every table whole, every column and every digit, however wide the terminal (lines run "
            "over). Without it a table fits the terminal (or COLUMNS); piped, it prints whole unless COLUMNS is set.",
        ),
    ] = False

    def check(self, inputs: Sequence[tuple[Path, str]] = ()) -> None:
        """Each output path can receive a file, the two are different files and neither is an input."""
        given = [(path, option) for path, option in ((self.csv, "--csv"), (self.json, "--json")) if path is not None]
        for path, option in given:
            check_output_path(path, option)
        check_distinct(given, inputs)


@dataclass(frozen=True)
class MemoryOptions(OptionGroup):
    """The memory estimate of ``memory`` and ``report``."""

    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Batch size of the memory estimate.")] = 1
    dtype: Annotated[
        Dtype, typer.Option("--dtype", case_sensitive=False, help="Element type of activations and parameters.")
    ] = Dtype.FLOAT32
    measure: Annotated[
        bool,
        typer.Option(
            "--measure/--no-measure",
            help="Also measure the peak of a real forward pass (in a fresh process; takes a few seconds).",
        ),
    ] = False

    def check(self, spec: ResNetSpec | None, fold_bn: bool = False) -> None:
        """A positive batch, and a --measure that fits (refused before anything is built); a --model
        (``spec`` None) is estimated, not measured, and so is a folded network (--fold-bn)."""
        check_positive("batch_size", self.batch_size)
        if self.measure and fold_bn:
            raise UsageError("--measure builds the network as designed in a fresh process; the folded network of "
                             "--fold-bn is estimated, not measured")
        if self.measure and spec is None:
            raise UsageError("--measure builds a network of the options in a fresh process; a --model is not measured")
        if self.measure and spec is not None:
            check_measure(spec, self.batch_size, self.dtype)


def check_measure(spec: ResNetSpec, batch_size: int, dtype: Dtype) -> None:
    """Refuse, before anything is built, a --measure whose forward pass cannot fit: the weights and
    layers at ``dtype``, and the activation peak for the batch, on the GPU if nvidia-smi shows one
    (the measurement runs there), else on the host."""
    from resnet_inspect.analysis import budget

    budget.check_measure(spec, batch_size, dtype, budget.gpu_limit() or budget.host_limit())


@dataclass(frozen=True)
class CacheOptions(OptionGroup):
    """The cache of walks (:mod:`resnet_inspect.analysis.cache`) of the commands that walk a network."""

    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="Reuse the stored walk of this network if there is one (no TensorFlow then), and store it if not "
            "(folder: RESNET_INSPECT_CACHE, else the user's cache folder). --no-cache builds and walks afresh "
            "and stores nothing.",
        ),
    ] = True

    def apply(self) -> None:
        """Turn the cache on or off for the rest of the run."""
        from resnet_inspect.analysis import cache

        cache.set_enabled(self.cache)


LevelOpt = Annotated[
    Level,
    typer.Option(
        "--level",
        "-l",
        case_sensitive=False,
        help="Rows: stage, block or layer (a --model whose layer names follow no block scheme: layer).",
    ),
]
BenchFileOpt = Annotated[
    Optional[Path],
    typer.Option("--bench", help="A bench CSV (resnet-inspect bench --csv): latency and throughput vs batch size."),
]


def check_png(out: Path, option: str = "--out") -> None:
    """A path a PNG chart can be written to, named ``.png``."""
    if out.suffix.lower() != ".png":
        raise UsageError(f"{option} {str(out)!r} must name a .png file")
    check_output_path(out, option)


def warn(message: str) -> None:
    """A warning or note that goes with a result: on stderr, one line."""
    sys.stderr.write(message + "\n")
