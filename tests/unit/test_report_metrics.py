"""Network quality per device over a month from the embedded store (a real one, written by
the store's own code): every figure worked out by hand, samples outside the month left out,
and the sentence when there is no store."""

import datetime as dt
from types import SimpleNamespace

from monitor.faults.store import month_bounds
from monitor.outputs.embedded import EmbeddedStore
from monitor.outputs.settings import OutputsSettings
from monitor.reports.metrics import DeviceQuality, from_embedded, network_quality, network_table
from probes.base import Sample
from tests.unit.report_month import ZONE

START, END = month_bounds(2026, 11, ZONE)


def ns(month, day, hour, minute=0):
    return int(dt.datetime(2026, month, day, hour, minute, tzinfo=ZONE).timestamp() * 1e9)


def _store(path):
    def icmp(device, at, **fields):
        return Sample("icmp", {"device": device}, fields, at)

    store = EmbeddedStore(path, retention_days=3650)
    store.write([
        icmp("codec-a", ns(10, 31, 23, 59), up=0, loss_pct=100.0),  # October: not counted
        icmp("codec-a", ns(11, 1, 0), up=1, rtt_avg_ms=1.0, loss_pct=0.0, jitter_ms=0.1),
        icmp("codec-a", ns(11, 10, 12), up=1, rtt_avg_ms=2.0, loss_pct=0.0, jitter_ms=0.2),
        icmp("codec-a", ns(11, 20, 12), up=1, rtt_avg_ms=3.0, loss_pct=50.0, jitter_ms=0.3),
        icmp("codec-a", ns(11, 30, 23, 59), up=0, loss_pct=100.0),  # down: no RTT, no jitter
        icmp("codec-a", ns(12, 1, 0), up=0, loss_pct=100.0),  # December: not counted
        icmp("srv-1", ns(11, 15, 8), up=1, rtt_avg_ms=0.5, loss_pct=0.0, jitter_ms=0.05),
        Sample("snmp", {"device": "srv-1"}, {"up": 0, "error_code": 1}, ns(11, 15, 8)),  # not ICMP
    ])
    store.close()


def test_every_figure_from_the_embedded_store(tmp_path):
    _store(tmp_path / "metrics.db")
    quality = from_embedded(tmp_path / "metrics.db", START, END)
    assert quality.devices == (DeviceQuality("codec-a", 4, 75.0, 2.0, 37.5, 0.2, 0.3),
                               DeviceQuality("srv-1", 1, 100.0, 0.5, 0.0, 0.05, 0.05))
    assert (quality.first_ns, quality.last_ns) == (ns(11, 1, 0), ns(11, 30, 23, 59))
    devices = [SimpleNamespace(name="codec-a", site_path=("district", "街道A"), device_class="codec")]
    table = network_table(quality, devices, ZONE)
    assert table.title == (f"Network quality by device (ICMP) from embedded store {tmp_path / 'metrics.db'}, "
                           f"samples 2026-11-01 00:00 .. 2026-11-30 23:59")
    assert table.rows[0] == ("codec-a", "district/街道A", "codec", 4, 75.0, 2.0, 37.5, 0.2, 0.3)
    assert table.rows[1][:3] == ("srv-1", "", "")  # a device no longer in the inventory keeps its figures


def test_the_first_configured_store_and_the_sentence_without_one(tmp_path):
    settings = SimpleNamespace(outputs=OutputsSettings(), state_dir=tmp_path)
    quality = network_quality(settings, START, END)
    assert quality.devices == () and quality.problem == (
        f"no metrics store: no InfluxDB output and no {tmp_path / 'metrics.db'}")
    assert network_table(quality, [], ZONE).title == (
        f"Network quality by device (ICMP): no figures (no metrics store: no InfluxDB output and no "
        f"{tmp_path / 'metrics.db'})")
    _store(tmp_path / "metrics.db")
    assert network_quality(settings, START, END).devices[0].runs == 4
