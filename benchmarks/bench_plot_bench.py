"""How long does `resnet-inspect plot --bench` take on the largest bench CSV it reads? Measured in one run.

    python benchmarks/bench_plot_bench.py [--fractions 0.125 0.25 0.5 1]

Writes bench CSVs of distinct device names (one setting per row: the worst case, every row its own
line and legend candidate) at each fraction of the 16 MiB cap
(:data:`resnet_inspect.bench.results.MAX_BYTES`) into a temporary folder, and times reading and
validating the file and drawing and encoding the PNG, in this process (pandas and matplotlib
imported once first). Prints, per size, the rows, the seconds, and the seconds per 100,000 rows: a
linear implementation keeps the last figure flat as the file grows (a quadratic one doubles it with
each doubling of the file).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from resnet_inspect.bench.plan import BENCH_COLUMNS
from resnet_inspect.bench.results import MAX_BYTES, read_bench_csv, series
from resnet_inspect.output import charts


def write_csv(path: Path, limit: int) -> int:
    """A bench CSV of at most ``limit`` bytes, one distinct device per row; returns its rows."""
    header = ",".join(BENCH_COLUMNS) + "\n"
    lines, size = [header], len(header)
    while True:
        row = f"{1 + len(lines) % 64},device-{len(lines)},float32,false,1.5,1.4,1.6,1.9,0.1,666.6,10.0,1.0\n"
        if size + len(row) > limit:
            break
        lines.append(row)
        size += len(row)
    path.write_text("".join(lines))
    return len(lines) - 1


def timed(path: Path) -> float:
    start = time.perf_counter()
    rows = read_bench_csv(path)
    charts.png_bytes(charts.bench_chart(series(rows), f"{path.name}: latency and throughput"))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.125, 0.25, 0.5, 1.0])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        warm = Path(folder) / "warm.csv"
        write_csv(warm, 4096)
        timed(warm)  # imports pandas and matplotlib, loads the fonts
        for fraction in args.fractions:
            path = Path(folder) / f"bench-{fraction:g}.csv"
            rows = write_csv(path, int(MAX_BYTES * fraction))
            seconds = timed(path)
            print(f"{path.stat().st_size:>10,} bytes  {rows:>8,} settings  {seconds:7.2f} s  "
                  f"{seconds / rows * 1e5:6.2f} s per 100,000 rows")


if __name__ == "__main__":
    main()
