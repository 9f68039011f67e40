"""Units shared by messages, summary lines and tables: counts in SI prefixes, bytes in binary units.

Three ways to print a figure so that it fits its size:

* :func:`human_bytes` and :func:`si`: one value in a message or a summary line, the unit chosen by the value
  (``3.07 GiB``, ``4.09 G``, ``12``); never ``0.00 G`` for a small value nor twelve digits before the unit;
* :class:`Scale`: one unit for a whole table column, chosen by the column's values (``MACs (M)`` for ResNet-50,
  ``MACs (k)`` for a tiny network, ``MACs (T)`` at a huge input);
* :func:`compact`: three significant digits and a unit in each cell (``25.6 M``, ``9.47 k``, ``160 MiB``), when a
  table must shrink to fit the terminal.

No third-party imports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

SI_PREFIXES = ("", "k", "M", "G", "T", "P", "E", "Z", "Y", "R", "Q")
BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
UNKNOWN = "?"


def human_bytes(value: float) -> str:
    """Binary units: 512 B, 9.2 MiB, 3.07 GiB, 7.28 TiB."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= scale:
            return f"{value / scale:,.{2 if scale >= 2**30 else 1}f} {unit}"
    return f"{value:,.0f} B"


def _mantissa(value: float, base: int, names: tuple[str, ...]) -> tuple[float, int]:
    """``value`` as ``m * base**i`` with 1 <= |m| < base (the largest unit that keeps a whole digit)."""
    m, i = abs(value), 0
    while m >= base and i + 1 < len(names):
        m, i = m / base, i + 1
    return m, i


def _sign(value: float, signed: bool) -> str:
    return "-" if value < 0 else ("+" if signed and value > 0 else "")


def si(value: float | None, decimals: int = 2, names: tuple[str, ...] = SI_PREFIXES, base: int = 1000) -> str:
    """One figure with the unit its size needs: 4.09 G, 814.56 E, 2.35 k, 12 (a count under 1000 as it is)."""
    if value is None:
        return UNKNOWN
    if abs(value) < base and float(value).is_integer():
        return f"{value:,.0f}" + (f" {names[0]}" if names[0] else "")
    m, i = _mantissa(value, base, names)
    if f"{m:.{decimals}f}" == f"{base:.{decimals}f}" and i + 1 < len(names):  # 999.996 k prints as 1.00 M
        m, i = m / base, i + 1
    return f"{_sign(value, False)}{m:,.{decimals}f} {names[i]}".rstrip()


def compact(
    value: float | None,
    names: tuple[str, ...] = SI_PREFIXES,
    base: int = 1000,
    digits: int = 3,
    signed: bool = False,
) -> str:
    """Three significant digits and a unit: 25.6 M, 218 k, 9.47 k, 64, 160 MiB, +3.80 M; '?' for None."""
    if value is None:
        return UNKNOWN
    m, i = _mantissa(value, base, names)
    decimals = 0 if m == 0 or (i == 0 and float(m).is_integer()) else max(0, digits - 1 - math.floor(math.log10(m)))
    if float(f"{m:.{decimals}f}") >= base and i + 1 < len(names):  # 999.6 k rounds to 1000 k: the next unit
        m, i, decimals = m / base, i + 1, digits - 1
    return f"{_sign(value, signed)}{m:,.{decimals}f} {names[i]}".rstrip()


@dataclass(frozen=True)
class Scale:
    """A column's unit: ``names[preferred]`` (``M`` of SI, ``MiB`` of binary) unless the values need another.

    :meth:`pick` moves to a larger unit while the largest value would print more than four digits before the
    point, and to a smaller one while it would print under one; a nonzero value too small for ``decimals``
    keeps two significant digits (``0.0038``) rather than printing 0.
    """

    names: tuple[str, ...]
    base: int
    preferred: int
    decimals: int = 1

    def pick(self, values: Iterable[float | None]) -> int:
        big = max((abs(v) for v in values if v is not None), default=0)
        i = self.preferred
        while i + 1 < len(self.names) and big >= 10_000 * self.base**i:
            i += 1
        while i > 0 and 0 < big < self.base**i:
            i -= 1
        return i

    def fixed(self, index: int, signed: bool = False) -> Callable[[float | None], str]:
        """The format of a value in unit ``names[index]`` (the unit itself goes in the header)."""

        def fmt(value: float | None) -> str:
            if value is None:
                return UNKNOWN
            x = value / self.base**index
            decimals = self.decimals
            if 0 < abs(x) < 0.5 * 10**-decimals:
                decimals = 1 - math.floor(math.log10(abs(x)))
            return f"{x:{'+' if signed else ''},.{decimals}f}"

        return fmt

    def compact(self, signed: bool = False) -> Callable[[float | None], str]:
        return lambda value: compact(value, self.names, self.base, signed=signed)


SI_MEGA = Scale(SI_PREFIXES, 1000, preferred=2)
SI_GIGA = Scale(SI_PREFIXES, 1000, preferred=3, decimals=2)
MEBIBYTES = Scale(BINARY_UNITS, 1024, preferred=2)
