"""Option groups: options declared once, as the fields of a frozen dataclass, and handed on as one value.

A group is a dataclass whose fields are ``Annotated[type, typer.Option(...)] = default``. A command
names a group as one parameter (``network: NetworkOptions``); :func:`expand` gives typer the
group's options in its place and hands the command one frozen value built from them, which also
knows which of its fields the user set (:attr:`OptionGroup.given`). It is sqlite-utils'
``@output_options``, done with types instead of stacked decorators.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand
from typer.models import OptionInfo

from resnet_inspect.errors import FieldError, UsageError

Command = TypeVar("Command", bound=Callable[..., Any])
_CTX = "ctx"


def _show_version(value: bool) -> None:
    if value:
        from resnet_inspect import __version__

        sys.stdout.write(f"resnet-inspect {__version__}\n")
        raise typer.Exit(0)


# The tool's own --version, accepted by the root and by every command alike.
VersionOpt = Annotated[
    bool, typer.Option("--version", help="Show the version and exit.", is_eager=True, callback=_show_version)
]


# A field's default as the user would type it (``"224"``), when the parsed default (``(224, 224)``) would
# show in --help as something the option does not take: typer parses it like a typed value.
TYPED_DEFAULT = "typed_default"


@dataclasses.dataclass(frozen=True)
class OptionGroup:
    """Base of the groups: ``given`` holds the names of the fields the user set (command line or environment)."""

    given: frozenset[str] = dataclasses.field(default=frozenset(), kw_only=True, repr=False, compare=False)

    @classmethod
    def options(cls) -> Iterator[tuple[str, Any, OptionInfo, Any]]:
        """(field, annotation, its typer option, default), the class's own fields before those it inherits."""
        hints = typing.get_type_hints(cls, include_extras=True)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        seen = set()
        for klass in cls.__mro__:
            for name in vars(klass).get("__annotations__", {}):
                info = _option_info(hints.get(name))
                if info is not None and name not in seen:
                    seen.add(name)
                    yield name, hints[name], info, fields[name].metadata.get(TYPED_DEFAULT, fields[name].default)

    def spelled(self, fields: typing.Iterable[str]) -> list[str]:
        """The options among ``fields`` that the user set, with every spelling (``--depth/-d``), in declared order."""
        wanted = set(fields) & self.given
        return ["/".join(_decls(info)) for name, _, info, _ in self.options() if name in wanted]


def _option_info(annotation: Any) -> OptionInfo | None:
    found = [m for m in getattr(annotation, "__metadata__", ()) if isinstance(m, OptionInfo)]
    return found[0] if found else None


def _decls(info: OptionInfo) -> tuple[str, ...]:
    # In Annotated form typer keeps the first spelling in `default` (see typer.utils.get_params_from_function).
    first = (info.default,) if isinstance(info.default, str) else ()
    return first + tuple(info.param_decls or ())


def _is_group(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, OptionGroup)


def expand(func: Command) -> Command:
    """The command as typer sees it: each group parameter replaced by the group's options, plus ``--version``."""
    hints = typing.get_type_hints(func, include_extras=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, tuple[type[OptionGroup], list[str]]] = {}
    has_ctx = False
    for param in inspect.signature(func).parameters.values():
        annotation = hints.get(param.name, param.annotation)
        if _is_group(annotation):
            names = []
            for name, hint, _, default in annotation.options():
                params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint))
                names.append(name)
            groups[param.name] = (annotation, names)
        else:
            has_ctx = has_ctx or param.name == _CTX
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=annotation))
    if not has_ctx:
        params.insert(0, inspect.Parameter(_CTX, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
    params.append(inspect.Parameter("show_version", inspect.Parameter.KEYWORD_ONLY, default=False,
                                    annotation=VersionOpt))

    @functools.wraps(func)
    def command(**values: Any) -> Any:
        values.pop("show_version")
        ctx: typer.Context = values[_CTX] if has_ctx else values.pop(_CTX)
        for param, (group, names) in groups.items():
            given = frozenset(name for name in names if was_given(ctx, name))
            values[param] = group(**{name: values.pop(name) for name in names}, given=given)
        return func(**values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return typing.cast(Command, command)


def was_given(ctx: typer.Context, name: str) -> bool:
    """Whether the user set the command's parameter ``name`` (command line or environment) rather than leaving
    its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"  # typer vendors click: compare by name


def given_options(ctx: typer.Context, names: typing.Iterable[str]) -> list[str]:
    """The options among the command's parameters ``names`` that the user set, with every spelling."""
    wanted = set(names)
    return [
        "/".join(param.opts + param.secondary_opts)
        for param in ctx.command.params
        if param.name in wanted and was_given(ctx, param.name)
    ]


class NamingCommand(TyperCommand):
    """A command whose library errors about a field (:class:`resnet_inspect.errors.FieldError`, raised by a
    parser or by the command's body) name the option of the command that sets it: the one place where
    fields become options (``classes must be ...`` -> ``--classes must be ...``)."""

    @contextmanager
    def _naming_options(self) -> Iterator[None]:
        try:
            yield
        except FieldError as exc:
            options = {p.name: p.opts[0] for p in self.params if p.opts}
            raise UsageError(exc.naming(lambda field: options.get(field, field))) from None

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        with self._naming_options():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:
        with self._naming_options():
            return super().invoke(ctx)
