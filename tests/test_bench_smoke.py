"""The benchmarks are scripts, not tests; this only keeps them in step with the code they
measure (a tiny run of the parts that need no long waits)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_pipeline_bench_pieces_run() -> None:
    bench = load("bench_pipeline")
    setup, pick = bench.bench_setup(200)
    assert setup > 0 and pick > 0
    efficiency = bench.bench_fanout(0.02, 5)
    assert 0 < efficiency <= 1.05
    median, worst = bench.bench_pickup(2, "submit")
    assert 0 < median <= worst


def test_inbound_and_pool_benches_run() -> None:
    inbound = load("bench_inbound")
    assert len(inbound.stop_latencies(0.02, False, 2)) == 2
    pool = load("bench_pool")
    efficiency, served = pool.run_pool(2, 0.02, 6, None, 0.0)
    assert served == 6 and efficiency > 0


def test_web_bench_pieces_run(tmp_path: Path) -> None:
    bench = load("bench_web")
    config = bench.write_config(tmp_path, 0, tmp_path / "ttyModem")
    alert = bench.seed(config, 30, 3)
    assert alert  # the first alert goes to every member
    assert bench.percentile([0.3, 0.1, 0.2], 0.95) == 0.3


def test_channels_bench_runs() -> None:
    pytest.importorskip("smpp34", reason="the test SMSC needs the smpp34 package")
    channels = load("bench_channels")
    result = channels.run(20, 1, 0.02, "overflow", 100.0)
    assert result["smpp"] + result["modems"] >= 20 and result["sims_over"] == 0
    assert channels.worst_second([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
