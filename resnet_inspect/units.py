"""Units shared by messages and tables: bytes in binary units. No third-party imports."""

from __future__ import annotations


def human_bytes(value: float) -> str:
    """Binary units: 512 B, 9.2 MiB, 3.07 GiB, 7.28 TiB."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= scale:
            return f"{value / scale:,.{2 if scale >= 2**30 else 1}f} {unit}"
    return f"{value:,.0f} B"
