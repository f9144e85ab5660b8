"""The outputs' counters as /metrics shows them: dropped and, of those, rejected points."""

from __future__ import annotations

from monitor.api.metrics import registry_for, render, snapshot_from_summary


def test_rejected_points_are_exported_next_to_dropped_points():
    summary = {"outputs": [{"name": "influxdb", "queued_points": 0, "spooled_points": 0, "spooled_bytes": 0,
                            "written_points": 120, "dropped_points": 5, "rejected_points": 1, "healthy": True}]}
    text = render(registry_for(lambda: snapshot_from_summary(summary))).decode()
    assert 'netvigil_output_dropped_points_total{output="influxdb"} 5.0' in text
    assert 'netvigil_output_rejected_points_total{output="influxdb"} 1.0' in text
    assert "# HELP netvigil_output_rejected_points_total Of the dropped points: refused by the server" in text
