"""How fast does `resnet-inspect --help` answer, next to a minimal typer app with the same seven commands?

    python benchmarks/bench_help.py [--rounds 15]

The minimal app (written by this script into a temporary folder) is the floor any typer CLI pays:
the interpreter, typer and rich, and a help page listing seven commands (bench, compare, memory,
paper, plot, report, summary) with one option each. Both run as fresh processes, interleaved
round by round so that drift in the machine's load hits both alike, after one untimed warm-up
run of each (the file cache).

Prints, all measured on the machine at hand (they vary from one machine and load to another):

1. each side's median wall time in seconds, with every round's time;
2. the ratio ours / minimal (goal: <= 1.3);
3. the heavy modules (numpy, pandas, matplotlib, TensorFlow) that ``--help`` imported: none expected.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = ("bench", "compare", "memory", "paper", "plot", "report", "summary")
HEAVY = ("numpy", "pandas", "matplotlib", "tensorflow")

MINIMAL_APP = '''import typer

app = typer.Typer(name="minimal", no_args_is_help=True, add_completion=False)
{commands}

if __name__ == "__main__":
    app()
'''
COMMAND = '''

@app.command()
def {name}(depth: int = 50) -> None:
    """The {name} command."""
'''

# What `--help` leaves in sys.modules, from inside the entry point's own process.
HEAVY_PROBE = f"""
import contextlib, io, sys
from resnet_inspect.cli import app
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    app(["--help"])
print(",".join(m for m in {HEAVY!r} if m in sys.modules))
"""


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    exe = shutil.which("resnet-inspect")
    ours_cmd = ([exe] if exe else [sys.executable, "-m", "resnet_inspect"]) + ["--help"]
    with tempfile.TemporaryDirectory() as folder:
        minimal = Path(folder) / "minimal_app.py"
        minimal.write_text(MINIMAL_APP.format(commands="".join(COMMAND.format(name=n) for n in COMMANDS)))
        minimal_cmd = [sys.executable, str(minimal), "--help"]
        wall(ours_cmd), wall(minimal_cmd)  # warm the file cache for both
        ours, floor = [], []
        for _ in range(args.rounds):
            ours.append(wall(ours_cmd))
            floor.append(wall(minimal_cmd))
    heavy = subprocess.run([sys.executable, "-c", HEAVY_PROBE], check=True, capture_output=True, text=True)

    ours_m, floor_m = statistics.median(ours), statistics.median(floor)
    print(f"resnet-inspect --help        : median {ours_m:.3f} s  ({', '.join(f'{t:.3f}' for t in ours)})")
    print(f"minimal typer app, 7 commands: median {floor_m:.3f} s  ({', '.join(f'{t:.3f}' for t in floor)})")
    print(f"ratio ours / minimal         : {ours_m / floor_m:.2f}  (goal <= 1.3)")
    print(f"heavy modules --help imported: {heavy.stdout.strip() or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
