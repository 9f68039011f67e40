"""`resnet-inspect profile` and `report --profile`: the per-block table checked by hand against a fake clock (timing
pieces) and an injected bandwidth, the roofline's bound, usage errors, exports, byte-identical charts; the trace's
attribution by hand and on a real trace (every op in its block's scope); real runs of both methods."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resnet_inspect.bench import hardware
from resnet_inspect.bench.stats import StepsInterrupted, time_interleaved
from resnet_inspect.cli import app
from resnet_inspect.errors import UsageError

SMALL = ["--depth", "18", "--input-size", "32", "-b", "1"]
ROUNDS = 3
BANDWIDTH = 20e9  # bytes/s, injected
BLOCKS = 10  # ResNet-18: stem, 8 regular blocks, head


def run(*args: str):
    return CliRunner().invoke(app, ["profile", *args])


def fake_seconds(step: int, round_: int) -> float:
    """The time the fake clock gives step ``step`` (0: the whole pass, k: block k-1) in timed round ``round_``."""
    if step == 0:
        return 0.050 + 0.001 * round_
    return 0.001 * step + 0.0002 * round_ * step


class FakeClock:
    """Reads alternate start/end around each step of each timed round, in time_interleaved's order: the k-th end read is
    position k mod n of round k // n (n steps), and it advances the clock by that step's fake time. ``alternate``:
    odd rounds run step 0 last, as profile's rounds do (no warm-up round before the timed ones)."""

    def __init__(self, steps: int, alternate: bool = True) -> None:
        self.steps, self.alternate, self.reads, self.now = steps, alternate, 0, 1000.0

    def __call__(self) -> float:
        if self.reads % 2:
            done = self.reads // 2
            position, round_ = done % self.steps, done // self.steps
            order = list(range(self.steps))
            if self.alternate and round_ % 2:
                order = order[1:] + order[:1]
            self.now += fake_seconds(order[position], round_)
        self.reads += 1
        return self.now


def pieces_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks timed as pieces whatever --method says: the fake clock times each piece (a trace's times are read
    from the trace, not from the clock)."""
    from resnet_inspect.bench import pieces as core

    monkeypatch.setattr(core, "block_method", lambda target, xla, asked=None: "pieces")


@pytest.fixture
def injected(monkeypatch: pytest.MonkeyPatch):
    """Every measurement of profile made known: the fake clock (timing pieces) and a fixed bandwidth."""
    from resnet_inspect.bench import pieces as core

    pieces_only(monkeypatch)
    monkeypatch.setattr(core, "CLOCK", FakeClock(BLOCKS + 1))
    monkeypatch.setattr(hardware, "host_bandwidth", lambda cores: hardware.Bandwidth(BANDWIDTH, "injected"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_rows_by_hand(injected, tmp_path: Path, build) -> None:
    result = run(*SMALL, "--warmup", "0", "-n", str(ROUNDS), "--device", "cpu", "--csv", str(tmp_path / "p.csv"),
                 "--json", str(tmp_path / "p.json"))
    assert result.exit_code == 0, result.output
    rows = read_csv(tmp_path / "p.csv")
    assert list(rows[0]) == [
        "name", "type", "stage", "batch_size", "device", "precision", "xla", "steps", "p50_ms", "p90_ms", "mean_ms",
        "share_pct", "macs", "flops", "gflops_per_s", "pct_of_peak", "bytes_moved", "arithmetic_intensity", "bound",
    ]
    _, model, report = build(18, input_size=32)
    blocks = report.rows("block")
    assert [r["name"] for r in rows] == [b.name for b in blocks] + ["overhead", "forward pass"]
    document = json.loads((tmp_path / "p.json").read_text())
    roof = document["roofline"]
    assert roof["bandwidth_bytes_per_s"] == BANDWIDTH
    # 2 cores x 2.6 GHz x 64 (this CPU's AVX-512) would be one machine; the peak comes from the CPU as bench's does
    ridge = roof["peak_flops"] / BANDWIDTH
    assert roof["ridge_flops_per_byte"] == pytest.approx(ridge)

    whole_ms = statistics.median(fake_seconds(0, r) * 1e3 for r in range(ROUNDS))
    for k, (row, block) in enumerate(zip(rows, blocks, strict=False)):
        times = sorted(fake_seconds(k + 1, r) * 1e3 for r in range(ROUNDS))
        # median and 90th percentile (linear interpolation) of three values, by hand
        assert float(row["p50_ms"]) == pytest.approx(times[1], abs=1e-4)
        assert float(row["p90_ms"]) == pytest.approx(times[1] + 0.8 * (times[2] - times[1]), abs=1e-4)
        assert float(row["share_pct"]) == pytest.approx(100 * times[1] / whole_ms, rel=1e-5)
        # the walk's counts, and GFLOP/s = FLOPs x batch / time
        assert int(row["flops"]) == block.flops and int(row["macs"]) == block.macs
        assert float(row["gflops_per_s"]) == pytest.approx(block.flops * 1 / (times[1] / 1e3) / 1e9, rel=1e-5)
        assert float(row["pct_of_peak"]) == pytest.approx(
            100 * block.flops / (times[1] / 1e3) / roof["peak_flops"], rel=1e-5)
        intensity = float(row["arithmetic_intensity"])
        assert intensity == pytest.approx(block.flops / int(row["bytes_moved"]), rel=1e-5)
        assert row["bound"] == ("compute" if intensity >= ridge else "memory")
    assert {r["bound"] for r in rows[:BLOCKS]} == {"compute", "memory"}  # both sides of the ridge occur

    # bytes moved: weights (Keras' own count) + the tensor in + the tensor out, float32, by hand
    stem_params = sum(model.get_layer(n).count_params() for n in ("stem.conv_initial", "stem.pool_initial"))
    assert stem_params == 7 * 7 * 3 * 64 + 64
    assert int(rows[0]["bytes_moved"]) == (stem_params + 32 * 32 * 3 + 8 * 8 * 64) * 4
    first = blocks[1].name
    params = sum(layer.count_params() for layer in model.layers if layer.name.startswith(first + "."))
    assert int(rows[1]["bytes_moved"]) == (params + 8 * 8 * 64 + 8 * 8 * 64) * 4

    # the units and the overhead add up to the whole pass, and their shares to 100 %
    overhead, whole = rows[BLOCKS], rows[BLOCKS + 1]
    assert float(whole["p50_ms"]) == pytest.approx(whole_ms, abs=1e-4)
    total = sum(float(r["p50_ms"]) for r in rows[:BLOCKS]) + float(overhead["p50_ms"])
    assert total == pytest.approx(float(whole["p50_ms"]), abs=1e-6)
    assert sum(float(r["share_pct"]) for r in rows[: BLOCKS + 1]) == pytest.approx(100.0, abs=1e-3)
    assert overhead["flops"] == "" and overhead["bound"] == ""
    assert int(whole["flops"]) == report.totals.flops
    # every round's time is in the JSON
    assert document["runs"][0]["blocks_ms"][0] == [round(fake_seconds(1, r) * 1e3, 4) for r in range(ROUNDS)]
    assert "units sum to" in result.output and "overhead" in result.output


def test_stage_rows_sum_their_blocks_round_by_round(injected, tmp_path: Path) -> None:
    result = run(*SMALL, "--warmup", "0", "-n", str(ROUNDS), "--level", "stage", "--csv", str(tmp_path / "s.csv"))
    assert result.exit_code == 0, result.output
    rows = read_csv(tmp_path / "s.csv")
    assert [r["name"] for r in rows] == ["stem", "block_layer1", "block_layer2", "block_layer3", "block_layer4",
                                         "head", "overhead", "forward pass"]
    # block_layer1 = blocks 1 and 2 (steps 2 and 3): the median of the per-round sums
    sums = [(fake_seconds(2, r) + fake_seconds(3, r)) * 1e3 for r in range(ROUNDS)]
    assert float(rows[1]["p50_ms"]) == pytest.approx(statistics.median(sums), abs=1e-4)
    total = sum(float(r["p50_ms"]) for r in rows[:7])
    assert total == pytest.approx(float(rows[7]["p50_ms"]), abs=1e-6)


def test_exports_and_chart_are_byte_identical_given_the_same_measurements(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A measured chart differs from run to run because the measurements do; given the same measurements (the
    fake clock, the injected bandwidth) every file is the same bytes."""
    from resnet_inspect.bench import pieces as core

    monkeypatch.setattr(hardware, "host_bandwidth", lambda cores: hardware.Bandwidth(BANDWIDTH, "injected"))
    pieces_only(monkeypatch)
    files = []
    for attempt in ("a", "b"):
        monkeypatch.setattr(core, "CLOCK", FakeClock(BLOCKS + 1))
        out = tmp_path / attempt
        result = run(*SMALL, "--warmup", "0", "-n", "2", "--png", str(out / "r.png"), "--csv", str(out / "r.csv"),
                     "--json", str(out / "r.json"))
        assert result.exit_code == 0, result.output
        files.append([(out / name).read_bytes() for name in ("r.png", "r.csv", "r.json")])
    assert files[0] == files[1]
    assert files[0][0].startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--level", "layer"], "Error: --level layer: profile times blocks and stages (a layer alone is not a piece "
                               "of the pass worth timing); give block or stage\n"),
        (["--devices", "all"], "Error: --devices all: profile times the pass on one device; data-parallel runs are "
                               "for bench\n"),
        (["--png", "roof.jpg"], "Error: --png 'roof.jpg' must name a .png file\n"),
        (["--csv", "same.png", "--png", "same.png"], "Error: --csv and --png name the same file 'same.png'; give "
                                                      "different files\n"),
        (["-n", "0"], "Error: --iterations must be a positive integer, got 0\n"),
        (["--method", "sampling"], "Error: --method 'sampling': give trace or pieces\n"),
        (["--model", "keras:MobileNetV2", "--depth", "18"],
         "Error: --depth/-d cannot be combined with --model: the model defines its own network\n"),
    ],
)
def test_usage_errors(args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code == 2
    assert result.output == message
    assert list(tmp_path.iterdir()) == []


def test_a_model_without_blocks_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "host_bandwidth", lambda cores: hardware.Bandwidth(BANDWIDTH, "injected"))
    result = run("--model", "keras:MobileNetV3Small", "--input-size", "32", "-b", "1")
    assert result.exit_code == 2
    assert result.output.endswith("Error: MobileNetV3Small has no block level (its layer names follow no known "
                                  "block scheme); profile times blocks\n")


@pytest.mark.parametrize("method", ["trace", "pieces"])
def test_a_real_run_agrees_with_itself(method: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Real times (no fake clock): the table holds together, the method is the one asked for and said, and the
    blocks account for the pass: a trace's blocks are the time their ops ran inside the pass (a little over the
    whole pass at most, which is timed untraced), pieces are the pass run block by block."""
    monkeypatch.setattr(hardware, "host_bandwidth", lambda cores: hardware.Bandwidth(BANDWIDTH, "injected"))
    result = run(*SMALL, "--warmup", "1", "-n", "3", "--device", "cpu", "--method", method,
                 "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "r.json").read_text())
    rows = document["rows"]
    assert all(r["p50_ms"] > 0 for r in rows if r["type"] != "overhead")
    whole = rows[-1]
    assert sum(r["p50_ms"] for r in rows[:-1]) == pytest.approx(whole["p50_ms"], abs=1e-6)
    assert document["runs"][0]["method"] == method
    assert len(document["runs"][0]["traced_ms"]) == (3 if method == "trace" else 0)
    assert ("the traced passes took" in result.output) == (method == "trace")
    assert dict(document["environment"])["block timing"].startswith(f"{method}: ")
    blocks = sum(r["p50_ms"] for r in rows[:BLOCKS])
    assert 0.3 * whole["p50_ms"] < blocks < 3 * whole["p50_ms"]


def test_method_trace_is_refused_where_ops_do_not_map_to_layers() -> None:
    from resnet_inspect.bench.pieces import block_method
    from resnet_inspect.bench.run import Target

    cpu = Target("CPU", ("/device:CPU:0",), ("CPU",), hardware.read_cpu())
    gpu = Target("GPU", ("/device:GPU:0",), ("GPU 0",), hardware.read_cpu())
    assert block_method(cpu, xla=False) == "trace"
    assert block_method(cpu, xla=True) == "pieces" and block_method(gpu, xla=False) == "pieces"
    assert block_method(cpu, xla=False, asked="pieces") == "pieces"
    with pytest.raises(UsageError, match="--method trace reads the ops of a CPU pass without XLA; on CPU:0 with --xla"):
        block_method(cpu, xla=True, asked="trace")
    result = run(*SMALL, "--xla", "--method", "trace", "--device", "cpu")
    assert result.exit_code == 2
    assert result.output.endswith("Error: --method trace reads the ops of a CPU pass without XLA; on CPU:0 with --xla "
                                  "give --method pieces (or leave --method out)\n")


def test_attribution_by_hand() -> None:
    """Op events clipped to the pass, each instant shared among the ops running then, unowned ops nobody's."""
    from resnet_inspect.bench.breakdown import OpEvent, attribute

    us = 1_000_000  # picoseconds
    owners = {"m/a_1/conv": 0, "m/a_1/relu": 0, "m/b_1/conv": 1, "m/b_1/add": 1}
    events = [
        OpEvent(0 * us, 10 * us, "m/a_1/conv"),  # a alone for 10 us
        OpEvent(10 * us, 20 * us, "m/a_1/relu"),  # a and b together for 5 us (15-20)
        OpEvent(15 * us, 30 * us, "m/b_1/conv"),
        OpEvent(25 * us, 30 * us, "m/b_1/add"),  # two of b's ops at once: still 25-30 is b's alone
        OpEvent(30 * us, 40 * us, "m/Identity"),  # in no block
        OpEvent(35 * us, 50 * us, "m/b_1/add"),  # cut at the window's end (45 us)
        OpEvent(-5 * us, 2 * us, "m/b_1/conv"),  # cut at its start (0): b and a share 0-2
    ]
    seconds = attribute(events, (0, 45 * us), lambda name: owners.get(name), 2)
    # a: 0-2 half (1) + 2-10 (8) + 10-15 (5) + 15-20 half (2.5) = 16.5 us
    # b: 0-2 half (1) + 15-20 half (2.5) + 20-30 (10) + 35-45 (10) = 23.5 us; its ops at 30 and 35 have only
    # an op of no block between them: no gap of its own
    assert seconds == pytest.approx([16.5e-6, 23.5e-6])
    assert sum(seconds) <= 45e-6
    # Idle gaps: between two ops of one block (the executor starting the next), the block's; between two
    # blocks, before the first op and after the last, nobody's.
    gaps = [OpEvent(5 * us, 10 * us, "m/a_1/conv"), OpEvent(12 * us, 20 * us, "m/a_1/relu"),
            OpEvent(23 * us, 30 * us, "m/b_1/conv"), OpEvent(31 * us, 33 * us, "m/b_1/add")]
    # a: 5 + 2 (gap) + 8 = 15 us; b: 7 + 1 (gap) + 2 = 10 us; 0-5, 20-23 and 33-40 nobody's
    assert attribute(gaps, (0, 40 * us), lambda name: owners.get(name), 2) == pytest.approx([15e-6, 10e-6])
    assert attribute([], (0, us), lambda name: 0, 3) == [0.0, 0.0, 0.0]


def test_the_trace_note_by_hand() -> None:
    from resnet_inspect.bench.breakdown import ProfileRun, trace_note
    from resnet_inspect.bench.plan import Precision

    run = ProfileRun(1, "CPU:0", Precision.FLOAT32, False, (0.010, 0.012, 0.011), ((0.005,) * 3,), 0,
                     method="trace", traced_s=(0.0115, 0.0125, 0.0120))
    assert trace_note(run) == ("batch 1, float32: the traced passes took 12.00 ms (median) against the untraced "
                               "pass's 11.00 ms (+9.1 %); the block times are the traced passes'")
    far = ProfileRun(1, "CPU:0", Precision.FLOAT32, False, (0.010,), ((0.005,),), 0, method="trace", traced_s=(0.0125,))
    assert trace_note(far).endswith("(+25.0 %); the block times are the traced passes': more than 10 % apart, read "
                                    "them as shares of the pass")
    assert trace_note(ProfileRun(1, "CPU:0", Precision.FLOAT32, False, (0.01,), ((0.005,),), 0)) is None


def test_a_real_trace_puts_every_layers_ops_in_its_block(build) -> None:
    """On a real trace of the compiled pass: each block's noted scopes are its own layers', every op of the pass
    that computes (a convolution, a matmul, a BN's multiply) lies in some block, the blocks share out no more
    than the pass, and the layers' calls are their own again after."""
    import re

    from resnet_inspect.analysis.segments import segments
    from resnet_inspect.bench import tracing as trace
    from resnet_inspect.bench.breakdown import attribute

    _, model, report = build(18, input_size=32)
    found = segments(report)
    nodes = trace.nodes_by_record(model, report.layers)
    with trace.noted_scopes([node.operation for node in nodes.values()]) as noted:
        whole = trace.single_step(model, 1, "/device:CPU:0", xla=False)
    assert all("call" not in vars(node.operation) for node in nodes.values())
    owners = trace.scope_owners(found, nodes, noted)
    assert len(owners) == len(report.layers) - 1  # every layer but the input opened one scope
    for scope, index in owners.items():
        layer = scope.rsplit("/", 1)[-1]
        assert any(re.fullmatch(re.escape(name) + r"(_\d+)?", layer) for name in found[index].layers), scope
    whole()
    owner = trace.owner_of(owners)
    traced = trace.TracedRuns(whole, owner, len(found))
    try:
        traced.step()
        traced.step()
        window, events = traced.events(1)
        done = traced.read(1, 1)
    finally:
        traced.close()
    assert not traced.root.exists()
    inside = [e for e in events if e.start_ps < window[1] and e.end_ps > window[0]]
    computing = [e for e in inside if re.search(r"Conv|MatMul|Mul|AddV2|Relu|Pool|Mean", e.kind)]
    assert computing and all(owner(e.name) is not None for e in computing), [
        e.name for e in computing if owner(e.name) is None]
    seconds = attribute(events, window, owner, len(found))
    assert all(s > 0 for s in seconds) and sum(seconds) <= (window[1] - window[0]) / 1e12
    assert len(done) == 1
    pass_s, blocks = done[0]
    assert blocks == tuple(seconds) and pass_s == (window[1] - window[0]) / 1e12
    assert len(blocks) == len(found) and all(s > 0 for s in blocks) and sum(blocks) <= pass_s


def test_pieces_compute_the_models_output(build) -> None:
    """The chain of pieces is the forward pass: its last piece writes the model's output."""
    from resnet_inspect._tf import tf
    from resnet_inspect.analysis.segments import segments
    from resnet_inspect.bench.pieces import block_steps

    _, model, report = build(18, input_size=32)
    x = tf.random.uniform((2, 32, 32, 3), seed=0)
    steps = block_steps(model, segments(report), report.layers, 2, "/device:CPU:0", False, False, inputs=x)
    assert len(steps) == BLOCKS
    for step in steps:
        written = step()
    expected = model(x, training=False)
    assert written[0].shape == (2, 1000)
    assert float(tf.reduce_max(tf.abs(written[0] - expected))) < 1e-5


def test_interleaved_rounds_keep_their_order_and_complete_rounds() -> None:
    order: list[str] = []
    clock = FakeClock(2, alternate=False)
    times = time_interleaved([lambda: order.append("whole"), lambda: order.append("piece")], 1, 2, clock=clock,
                             alternate="none")
    assert order == ["whole", "piece"] * 3  # one warm-up round, then two timed
    assert times == [pytest.approx([fake_seconds(0, 0), fake_seconds(0, 1)]),
                     pytest.approx([fake_seconds(1, 0), fake_seconds(1, 1)])]

    calls = []

    def second() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(StepsInterrupted) as caught:
        time_interleaved([lambda: None, second], 0, 5, clock=FakeClock(2, alternate=False), alternate="none")
    assert len(caught.value.times) == 1  # the complete round only

    # alternating: the first step runs last in every second round; times stay in the order of the steps
    order.clear()
    steps = [lambda: order.append("whole"), lambda: order.append("a"), lambda: order.append("b")]
    times = time_interleaved(steps, 1, 2, clock=FakeClock(3, alternate=False), alternate="first-last")
    assert order == ["whole", "a", "b", "a", "b", "whole", "whole", "a", "b"]
    assert len(times) == 3 and all(len(t) == 2 for t in times)


def test_roofline_by_hand() -> None:
    roof = hardware.Roofline(100e9, 10e9)
    assert roof.ridge == 10.0
    assert roof.bound(9.99) == "memory" and roof.bound(10.0) == "compute"
    assert roof.attainable(2.0) == 20e9 and roof.attainable(50.0) == 100e9
    assert hardware.Roofline(None, 10e9).bound(5.0) is None
    assert hardware.Roofline(100e9, None).ridge is None


def test_triad_bandwidth_is_measured_and_states_its_convention() -> None:
    found = hardware.host_bandwidth(1, runs=3, elements=2_000_000)
    assert 1e8 < found.bytes_per_s < 1e13  # 0.1 GB/s to 10 TB/s: a memory, not a clock error
    assert "3 x 8 x n bytes" in found.derivation and "2,000,000 elements" in found.derivation
    assert hardware.triad_elements(48 * 2**20) == 4 * 48 * 2**20 // 8
    assert hardware.triad_elements(None) == hardware.MIN_TRIAD_BYTES // 8


def test_report_profile_adds_the_section_and_the_chart(injected, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["report", "--depth", "18", "--input-size", "32", "--profile", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "roofline.png").read_bytes().startswith(b"\x89PNG")
    text = (out / "report.md").read_text()
    assert "## Profile" in text and "![Roofline" in text and "| `overhead` |" in text
    document = json.loads((out / "report.json").read_text())
    rows = document["profile"]["rows"]
    assert rows[-1]["name"] == "forward pass" and document["profile"]["roofline"]["bandwidth_bytes_per_s"] == BANDWIDTH
    assert math.isclose(sum(r["p50_ms"] for r in rows[:-1]), rows[-1]["p50_ms"], abs_tol=1e-6)


def test_ctrl_c_shows_the_complete_runs_and_writes_nothing(injected, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    from resnet_inspect.output.bench_tables import BenchProgress

    def interrupt_second_run(self, phase: str, done: int) -> None:
        if self.label.startswith("run 2/2"):
            raise KeyboardInterrupt

    monkeypatch.setattr(BenchProgress, "on_step", interrupt_second_run)
    result = run("--depth", "18", "--input-size", "32", "-b", "1", "-b", "2", "--warmup", "0", "-n", "2",
                 "--csv", str(tmp_path / "p.csv"))
    assert result.exit_code == 130
    assert result.output.splitlines()[-1] == "Error: interrupted: 1 of 2 runs complete; nothing was written"
    assert "batch 1, float32: the units sum to" in result.output
    assert not (tmp_path / "p.csv").exists()


def test_ctrl_c_inside_a_traced_pass_stops_the_profiler_and_leaves_no_trace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Ctrl-C while the profiler records a pass: exit 130, nothing written, the profiler stopped (a new session
    starts) and no trace folder left behind."""
    import tempfile

    from resnet_inspect._tf import tf
    from resnet_inspect.bench import tracing

    monkeypatch.setattr(hardware, "host_bandwidth", lambda cores: hardware.Bandwidth(BANDWIDTH, "injected"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    real = tracing.single_step

    def interrupted_third_call(*args, **kwargs):
        step, calls = real(*args, **kwargs), []

        def counted() -> None:
            calls.append(1)
            if len(calls) == 3:  # the untimed run, the warm-up round's whole pass, then its traced pass
                raise KeyboardInterrupt
            step()

        return counted

    monkeypatch.setattr(tracing, "single_step", interrupted_third_call)
    result = run(*SMALL, "--warmup", "1", "-n", "2", "--device", "cpu", "--csv", str(tmp_path / "p.csv"))
    assert result.exit_code == 130
    assert result.output.splitlines()[-1] == "Error: interrupted: 0 of 1 runs complete; nothing was written"
    assert list(tmp_path.iterdir()) == []
    tf.profiler.experimental.start(str(tmp_path / "again"))  # raises if a session were still running
    tf.profiler.experimental.stop()


def test_each_precision_has_its_own_roof(injected, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two precisions with different peaks: the JSON has a roofline per precision, the console a ridge per
    precision (left out of the JSON's environment, as measured lines are), each row's % of peak is against its
    own precision's peak, and the chart draws both roofs."""
    from resnet_inspect.bench import run as bench_run

    peaks = {"float32": 100e9, "mixed_bfloat16": 400e9}
    monkeypatch.setattr(bench_run, "peak", lambda target, precision, threads: hardware.Peak(
        peaks[precision.value], f"injected {precision.value}"))
    result = run(*SMALL, "--precision", "float32", "--precision", "mixed_bfloat16", "--warmup", "0", "-n", "2", "--device", "cpu",
                 "--json", str(tmp_path / "p.json"), "--png", str(tmp_path / "r.png"))
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "p.json").read_text())
    assert {k: v["peak_flops"] for k, v in document["rooflines"].items()} == peaks
    assert {k: v["ridge_flops_per_byte"] for k, v in document["rooflines"].items()} == {
        "float32": 100e9 / BANDWIDTH, "mixed_bfloat16": 400e9 / BANDWIDTH}
    assert document["roofline"] == document["rooflines"]["float32"]
    assert "ridge point float32" in result.output and "ridge point mixed_bfloat16" in result.output
    assert not any(key.startswith("ridge point") for key in document["environment"])
    for row in document["rows"]:
        if row["gflops_per_s"] is not None:
            assert row["pct_of_peak"] == pytest.approx(100 * row["gflops_per_s"] * 1e9 / peaks[row["precision"]],
                                                       rel=1e-4)
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")


def test_a_keras_application_nested_in_a_users_model_is_traced(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    """A transfer-learning model (keras.applications' ResNet50 inside the user's own): the trace reaches the
    nested model's layers (named as the walk names them), so profile times its stages; pieces, which cut the
    outer graph, refuse it in one line."""
    import keras

    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.analysis.walk import named_nodes

    base = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(base(inputs)))
    model = keras.Model(inputs, outputs, name="transfer")
    report = inspect_model(model)
    assert [name for name, _, _ in named_nodes(model, nested=True)] == [r.name for r in report.layers]
    with pytest.raises(TypeError, match="transfer holds the nested model 'resnet50'"):
        named_nodes(model)
    path = tmp_path / "transfer.keras"
    model.save(path)

    monkeypatch.setattr(hardware, "host_bandwidth", lambda cores: hardware.Bandwidth(BANDWIDTH, "injected"))
    common = ["--model", str(path), "-b", "1", "--warmup", "0", "-n", "2", "--device", "cpu", "--level", "stage"]
    result = run(*common, "--json", str(tmp_path / "t.json"))
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "t.json").read_text())
    assert document["runs"][0]["method"] == "trace"
    rows = {r["name"]: r for r in document["rows"]}
    assert list(rows) == ["stem", "conv2", "conv3", "conv4", "conv5", "head", "overhead", "forward pass"]
    assert all(rows[name]["p50_ms"] > 0 for name in ("stem", "conv2", "conv3", "conv4", "conv5", "head"))
    refused = run(*common, "--method", "pieces")
    assert refused.exit_code == 2
    assert refused.output.endswith("Error: profile cuts a model's own graph at its blocks: transfer holds the "
                                   "nested model 'resnet50'\n")


def test_the_device_triad_runs_its_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU's memory roof: the same triad on the device through XLA (run here on the CPU device, small)."""
    from resnet_inspect.bench import pieces
    from resnet_inspect.bench.run import Target

    monkeypatch.setattr(pieces, "GPU_TRIAD_ELEMENTS", 1_000_000)
    found = pieces.bandwidth(Target("GPU", ("/device:CPU:0",), ("test",), hardware.read_cpu()), 1)
    assert 1e8 < found.bytes_per_s < 1e13
    assert "3 x 4 x n bytes" in found.derivation and "1,000,000 elements" in found.derivation


def test_fold_bn_profiles_the_deployed_network(injected, tmp_path: Path) -> None:
    """--fold-bn comes with the network options: the timed and counted network is the folded one, the same
    network `summary --fold-bn` walks (v1: every BN follows a conv, so every FLOP of a BN is gone)."""
    folded = [*SMALL, "--arch-version", "v1", "--fold-bn"]
    result = run(*folded, "--warmup", "0", "-n", str(ROUNDS), "--device", "cpu", "--json", str(tmp_path / "p.json"))
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "p.json").read_text())
    whole = document["rows"][-1]
    summaries = {}
    for flags in ([], ["--fold-bn"]):
        out = tmp_path / f"s{len(flags)}.json"
        done = CliRunner().invoke(app, ["summary", *SMALL[:4], "--arch-version", "v1", *flags, "--json", str(out)])
        assert done.exit_code == 0, done.output
        summaries[bool(flags)] = json.loads(out.read_text())["totals"]
    assert whole["flops"] == summaries[True]["flops"] < summaries[False]["flops"]
    assert "fold_bn" in document["config"]
