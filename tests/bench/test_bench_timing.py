"""bench/timing.py: the discipline every bench script shares (warm-up call per way, >= 3
alternating rounds, refusal to write figures taken on a busy machine)."""

import importlib.util
import json

import pytest

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("bench_timing", ROOT / "bench" / "timing.py")
timing = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(timing)


def test_each_way_is_warmed_up_alone_then_timed_in_alternating_rounds():
    calls = []

    def way(name, result):
        def call():
            calls.append(name)
            return result
        return call

    rates = timing.compare({"ours": way("ours", 10), "peer": way("peer", timing.Timed(6, 2.0))},
                           rounds=1)
    # one untimed warm-up call each, then 3 rounds (the minimum), the order reversed each round
    assert calls == ["ours", "peer", "ours", "peer", "peer", "ours", "ours", "peer"]
    assert rates["peer"] == {"best": 3.0, "median": 3.0, "rates": [3.0, 3.0, 3.0]}
    assert len(rates["ours"]["rates"]) == 3 and rates["ours"]["best"] > 0


def test_figures_from_a_busy_machine_are_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(timing, "cores", lambda: 2)
    monkeypatch.setattr(timing, "load_average", lambda: 1.0)
    out = tmp_path / "bench.json"
    result = {"figure": 1}
    timing.skipped(result, "peer", "pass --peer DIR")
    result["machine"] = timing.machine(load_before=3.5)
    with pytest.raises(SystemExit) as err:
        timing.write_figures(out, result, load_before=3.5)
    assert err.value.code == 2 and not out.exists()
    assert "load average was 3.5 > 2 cores" in capsys.readouterr().err
    result["machine"] = timing.machine(load_before=0.5)
    timing.write_figures(out, result, load_before=0.5)
    written = json.loads(out.read_text())
    assert written["skipped"] == {"peer": "pass --peer DIR"}
    assert written["machine"]["load_before"] == 0.5 and written["machine"]["load_after"] == 1.0


def test_a_busy_machine_is_not_measured_unless_forced(monkeypatch):
    monkeypatch.setattr(timing, "cores", lambda: 2)
    monkeypatch.setattr(timing, "load_average", lambda: 2.5)
    with pytest.raises(SystemExit) as err:
        timing.require_quiet("bench/x.py")
    assert err.value.code == 2
    assert timing.require_quiet("bench/x.py", force=True) == 2.5
