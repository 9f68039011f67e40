"""JSON documents and export rows: plain data, fixed key order, no timestamps."""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from resnet_inspect import __version__
from resnet_inspect.analysis.budget import RUN_METADATA
from resnet_inspect.analysis.compare import BlockSide, CompareLevel, ModelEntry, ModelRow, ratio, stage_names
from resnet_inspect.analysis.flops import CONVENTION
from resnet_inspect.analysis.measure import Measurement
from resnet_inspect.analysis.records import Level, UnitRow, flat
from resnet_inspect.analysis.report import Report
from resnet_inspect.bench.plan import BENCH_COLUMNS, BenchPlan, Mode
from resnet_inspect.output.bench_tables import BENCH_CONVENTION, TRAIN_STEP, speedups
from resnet_inspect.output.columns import SUMMARY_COLUMNS

if TYPE_CHECKING:  # numpy, which the bench statistics import, only where a bench runs
    from resnet_inspect.bench.breakdown import ProfileRow, ProfileRun
    from resnet_inspect.bench.hardware import Bandwidth, Roofline
    from resnet_inspect.bench.stats import BenchResult

BLOCK_COLUMNS: tuple[str, ...] = (
    "block",
    "part",
    "name",
    "kernel_shape",
    "in_channels",
    "out_channels",
    "output_shape",
    "weights",
    "biases",
    "bn_trainable",
    "bn_non_trainable",
    "params",
    "macs",
    "flops",
)
TOTAL_PART = "total"


def block_table(sides: Sequence[BlockSide]) -> list[dict[str, Any]]:
    """Export rows: each conv of each block, then the block's total (part ``total``, all its layers)."""
    rows: list[dict[str, Any]] = []
    for side in sides:
        for conv in side.convs:
            rows.append(
                {
                    "block": conv.block,
                    "part": conv.part,
                    "name": conv.name,
                    "kernel_shape": conv.kernel_shape,
                    "in_channels": conv.in_channels,
                    "out_channels": conv.out_channels,
                    "output_shape": conv.output_shape,
                    "weights": conv.weights,
                    "biases": conv.biases,
                    "bn_trainable": 0,
                    "bn_non_trainable": 0,
                    "params": conv.weights + conv.biases,
                    "macs": conv.macs,
                    "flops": conv.flops,
                }
            )
        totals = flat(side.totals)
        rows.append(
            {
                "block": side.setup.kind.value,
                "part": TOTAL_PART,
                "name": side.setup.scope,
                "kernel_shape": (),
                "in_channels": side.in_channels,
                "out_channels": side.out_channels,
                "output_shape": side.output_shape,
                **{key: totals[key] for key in BLOCK_COLUMNS[BLOCK_COLUMNS.index("weights"):]},
            }
        )
    return rows


STAGE_FIELDS = ("params", "macs", "flops")


def model_table(rows: Sequence[ModelRow], level: CompareLevel) -> list[dict[str, Any]]:
    """Export rows: a model's description, totals, ``<key>_diff``/``<key>_ratio``; with ``level`` stage,
    ``<stage>_params``, ``<stage>_macs`` and ``<stage>_flops`` too."""
    stages = stage_names(rows) if level is CompareLevel.STAGE else []
    table = []
    for row in rows:
        data: dict[str, Any] = {
            "name": row.name,
            "version": row.version,
            "block_type": row.block_type,
            "blocks": "-".join(str(n) for n in row.blocks),
            "output_shape": row.output_shape,
            "features_shape": row.features_shape,
            **flat(row.totals),
            **row.memory_fields(),
            **{f"{key}_diff": value for key, value in row.diff.items()},
            **{f"{key}_ratio": value for key, value in row.ratio.items()},
        }
        by_name = {stage.name: stage for stage in row.stages}
        for stage in stages:
            for field in STAGE_FIELDS:
                data[f"{stage}_{field}"] = getattr(by_name[stage], field) if stage in by_name else None
        table.append(data)
    return table


def _unsupported(report: Report) -> list[dict[str, Any]]:
    return [dataclasses.asdict(u) for u in report.unsupported]


def blocks_payload(sides: Sequence[BlockSide]) -> dict[str, Any]:
    """The JSON document of ``compare regular bottleneck --json``."""
    base = sides[0]
    return {
        "comparison": "blocks",
        "convention": CONVENTION,
        "versions": versions(),
        "blocks": [
            {
                "config": side.setup.config(),
                "input_shape": list(side.input_shape),
                "output_shape": list(side.output_shape),
                "in_channels": side.in_channels,
                "out_channels": side.out_channels,
                "totals": flat(side.totals),
                "unsupported": _unsupported(side.report),
            }
            for side in sides
        ],
        "ratios": [
            {
                "block": side.setup.kind.value,
                "against": base.setup.kind.value,
                **{
                    key: ratio(flat(side.totals)[key], flat(base.totals)[key])
                    for key in ("weights", "biases", "bn_trainable", "params", "macs", "flops")
                },
            }
            for side in sides[1:]
        ],
        "columns": list(BLOCK_COLUMNS),
        "rows": block_table(sides),
    }


def models_payload(entries: Sequence[ModelEntry], rows: Sequence[ModelRow], level: CompareLevel) -> dict[str, Any]:
    """The JSON document of ``compare resnet18 resnet34 ... --json``."""
    table = model_table(rows, level)
    return {
        "comparison": "models",
        "level": level.value,
        "against": rows[0].name,
        "convention": CONVENTION,
        "versions": versions(),
        "models": [
            # the walked report's configuration adds what was done to the built model (--fold-bn's record)
            {"label": entry.label, **(entry.spec.config() if entry.spec is not None else {}),
             **dict(entry.report.config)}
            for entry in entries
        ],
        "unsupported": {entry.label: _unsupported(entry.report) for entry in entries},
        "columns": list(table[0]),
        "rows": table,
    }


def _bench_settings(plan: BenchPlan) -> dict[str, Any]:
    return {
        "warmup": plan.warmup,
        "iterations": plan.iterations,
        "min_time_s": plan.min_time,
        "threads": plan.threads,
        "xla": plan.xla,
        "devices": "all" if plan.all_devices else "one",
        "mode": plan.mode.value,
    }


def _bench_run(result: BenchResult) -> dict[str, Any]:
    """What one bench row was measured from."""
    return {
        "batch_size": result.row.batch_size,
        "precision": result.row.precision,
        "replicas": result.replicas,
        "warmup": result.warmup,
        "steps": len(result.times_ms),
        "times_ms": list(result.times_ms),
        **({"memory": _measured(result.memory)} if result.memory is not None else {}),
    }


def _measured(found: Measurement) -> dict[str, Any]:
    """A measured memory figure beside its estimate; ``measured_bytes`` null when it is not believable."""
    return {
        "estimate_bytes": found.estimate_bytes,
        "measured_bytes": None if found.note else found.peak_bytes,
        "raw_rise_bytes": found.peak_bytes,
        "method": found.method,
        "note": found.note,
    }


def _timed_header(
    model: str,
    config: dict[str, Any],
    convention: dict[str, Any],
    versions: dict[str, str],
    environment: Sequence[tuple[str, str]],
    plan: BenchPlan,
    left_out: frozenset[str],
) -> dict[str, Any]:
    """The head of a timed run's JSON (bench, profile): the model, its configuration, the conventions, the
    versions, the environment without ``left_out`` and the settings. What changes from run to run besides the
    timings (free memory) stays on the console: the rest of the file is the same for the same command on the
    same machine."""
    return {
        "model": model,
        "config": config,
        "convention": {**CONVENTION, **convention},
        "versions": versions,
        "environment": {key: value for key, value in environment if key not in left_out},
        "settings": _bench_settings(plan),
    }


def bench_payload(
    model: str,
    config: dict[str, Any],
    environment: Sequence[tuple[str, str]],
    plan: BenchPlan,
    flops_per_image: int | None,
    results: Sequence[BenchResult],
    versions: dict[str, str],
) -> dict[str, Any]:
    """The JSON document of ``bench --json``: plain data, fixed key order, no timestamps.

    ``rows`` carry exactly the CSV columns; ``runs`` what each row was measured from.
    """
    convention = {**BENCH_CONVENTION, **({"step": TRAIN_STEP} if plan.mode is Mode.TRAIN else {})}
    return {
        **_timed_header(model, config, convention, versions, environment, plan, RUN_METADATA),
        "flops_per_image": flops_per_image,
        "columns": list(BENCH_COLUMNS),
        "rows": [dataclasses.asdict(r.row) for r in results if not r.network],
        "runs": [_bench_run(r) for r in results if not r.network],
        # --fold-bn: the network as built, timed just before each run of the folded one
        **({"as_built": {"rows": [dataclasses.asdict(r.row) for r in baseline],
                         "runs": [_bench_run(r) for r in baseline],
                         "images_per_s_folded_over_built": speedups(results)}}
           if (baseline := [r for r in results if r.network]) else {}),
    }


def roofline_dict(roofline: Roofline, bandwidth: Bandwidth | None) -> dict[str, Any]:
    """The roofline as measured and derived: peak FLOP/s, memory bandwidth (bytes/s) and how, the ridge point."""
    return {
        "peak_flops": roofline.peak_flops,
        "bandwidth_bytes_per_s": roofline.bytes_per_s,
        "bandwidth_method": bandwidth.derivation if bandwidth is not None else None,
        "ridge_flops_per_byte": roofline.ridge,
    }


def profile_payload(
    model: str,
    config: dict[str, Any],
    environment: Sequence[tuple[str, str]],
    plan: BenchPlan,
    level: Level,
    runs: Sequence[ProfileRun],
    rows: Sequence[ProfileRow],
    rooflines: dict[str, dict[str, Any]],
    versions: dict[str, str],
) -> dict[str, Any]:
    """The JSON document of ``profile --json``: ``rows`` carry exactly the CSV columns; ``runs`` every round's
    time of the whole pass and of each block; ``rooflines`` the peak, the measured bandwidth and the ridge of each
    precision (:func:`roofline_dict`), ``roofline`` the first precision's."""
    from resnet_inspect.bench.breakdown import PROFILE_COLUMNS  # numpy, only where a profile was run
    from resnet_inspect.output.profile_tables import MEASURED_LINES, PROFILE_CONVENTION, ridge_line

    # the measured bandwidth and the ridges it gives are in "roofline" and "rooflines"
    measured = MEASURED_LINES | {ridge_line(p.value) for p in plan.precisions}
    return {
        **_timed_header(model, config, PROFILE_CONVENTION, versions, environment, plan, RUN_METADATA | measured),
        "level": level.value,
        "roofline": rooflines[plan.precisions[0].value],
        "rooflines": rooflines,
        "columns": list(PROFILE_COLUMNS),
        "rows": [dataclasses.asdict(r) for r in rows],
        "runs": [
            {
                "batch_size": run.batch_size,
                "precision": run.precision.value,
                "warmup": run.warmup,
                "method": run.method,
                "rounds": len(run.whole_s),
                "whole_ms": [round(t * 1e3, 4) for t in run.whole_s],
                "blocks_ms": [[round(t * 1e3, 4) for t in times] for times in run.block_s],
                "traced_ms": [round(t * 1e3, 4) for t in run.traced_s],
            }
            for run in runs
        ],
    }



def versions() -> dict[str, str | None]:
    """Tool, TensorFlow, Keras and Python versions; TensorFlow's and Keras' as installed, read without
    importing them (a walk read from the cache answers without TensorFlow, and says the same)."""
    from resnet_inspect.analysis.cache import library_versions

    return {"resnet_inspect": __version__, **library_versions(), "python": platform.python_version()}


def row_dict(row: UnitRow) -> dict[str, Any]:
    """A unit row as JSON has it: the export columns, the shape as a list."""
    data = flat(row)
    data["output_shape"] = list(row.output_shape)
    return data


def report_payload(report: Report, level: Level) -> dict[str, Any]:
    """The JSON document of ``summary --json``: plain data, fixed key order, no timestamps."""
    return {
        "model": report.model_name,
        "level": level.value,
        "config": dict(report.config),
        "convention": CONVENTION,
        "versions": versions(),
        "totals": flat(report.totals),
        "unsupported": _unsupported(report),
        "columns": list(SUMMARY_COLUMNS),
        "rows": [row_dict(r) for r in report.rows(level)],
    }
