"""Metrics outputs: the fan-out the daemon submits every probe result to.

    outputs = Outputs.build(settings.outputs, state_dir)
    await outputs.start()
    outputs.submit(samples)          # never blocks, never raises
    await outputs.stop(timeout_s=10)  # writes what it can, spools the rest

A reload replaces the whole set, in this order: `await old.stop(...)` (its writers spool
what they hold and close their spool files), then `Outputs.build` + `start` of the new set,
then `new.carry_over(old)` (counters continue). Each spool file has one owner at a time
(a second open raises `SpoolBusy`), so the new writers replay everything the old ones left.

Outputs by name (as in the settings file): `influxdb` (v2 API), `influxdb_v1`, `embedded`.
The InfluxDB transports are imported inside `build`, so loading the settings models (e.g.
`netvigil check`) does not pay for influxdb-client and aiohttp.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Iterable, Optional, Union

from monitor.outputs.embedded import EmbeddedOutput, EmbeddedStore, LatestRow
from monitor.outputs.settings import OutputsSettings
from monitor.outputs.spool import Spool
from monitor.outputs.writer import OutputStats, Writer, encode_samples
from probes.base import Sample

__all__ = ["Outputs", "OutputStats", "EmbeddedStore", "LatestRow"]

log = logging.getLogger(__name__)


class Outputs:
    """Every configured output, fed from one `submit`."""

    def __init__(self, writers: list[Writer], embedded_output: Optional[EmbeddedOutput] = None) -> None:
        self.writers = writers
        self._embedded_output = embedded_output
        self.embedded: Optional[EmbeddedStore] = embedded_output.store if embedded_output else None

    @classmethod
    def build(cls, settings: OutputsSettings, state_dir: Path) -> "Outputs":
        """One writer per configured output; spools at `<state_dir>/spool/<name>.db`."""
        state_dir = Path(state_dir)
        max_bytes = int(settings.spool.max_mb * 1024 * 1024)
        writers: list[Writer] = []
        try:
            if settings.influxdb is not None:
                from monitor.outputs.influxdb_v2 import InfluxDBv2Transport

                transport = InfluxDBv2Transport(settings.influxdb)
                spool = Spool(state_dir / "spool" / f"{transport.name}.db", max_bytes, transport.name)
                writers.append(Writer(transport, spool, settings.influxdb, settings.spool))
            if settings.influxdb_v1 is not None:
                from monitor.outputs.influxdb_v1 import InfluxDBv1Transport

                transport = InfluxDBv1Transport(settings.influxdb_v1)
                spool = Spool(state_dir / "spool" / f"{transport.name}.db", max_bytes, transport.name)
                writers.append(Writer(transport, spool, settings.influxdb_v1, settings.spool))
            embedded = None
            if settings.embedded_enabled():
                embedded = EmbeddedOutput(EmbeddedStore(state_dir / "metrics.db", settings.embedded.retention_days))
        except BaseException:
            for writer in writers:  # give the spool files back: a retry (or the old outputs) opens them
                writer.close_unstarted()
            raise
        return cls(writers, embedded)

    async def start(self) -> None:
        for writer in self.writers:
            await writer.start()
        if self._embedded_output is not None:
            await self._embedded_output.start()

    def submit(self, samples: Iterable[Sample]) -> None:
        """Hand samples to every output. Never blocks, never raises."""
        try:
            samples = samples if isinstance(samples, (list, tuple)) else list(samples)
            if self.writers:
                # Encoded once, shared by the v2 and v1 writers.
                encoded = encode_samples(samples)
                for writer in self.writers:
                    writer.submit_encoded(encoded)
            if self._embedded_output is not None:
                self._embedded_output.submit(samples)
        except Exception:  # noqa: BLE001 - the scheduler must never see an output's trouble
            log.exception("outputs: could not submit samples")

    async def stop(self, timeout_s: float) -> None:
        """Stop every output in parallel within `timeout_s`; unwritten points stay spooled."""
        outputs: list[Union[Writer, EmbeddedOutput]] = list(self.writers)
        if self._embedded_output is not None:
            outputs.append(self._embedded_output)
        results = await asyncio.gather(*(o.stop(timeout_s) for o in outputs), return_exceptions=True)
        for output, result in zip(outputs, results):
            if isinstance(result, BaseException):
                log.error("output %s: stop failed: %s: %s", output.name, type(result).__name__, result)

    def carry_over(self, previous: "Outputs") -> None:
        """Continue the counters of the outputs this set replaces (a reload), output by output,
        so written and dropped keep counting since the daemon started."""
        by_name = {writer.name: writer for writer in previous.writers}
        for writer in self.writers:
            if writer.name in by_name:
                writer.carry_over(by_name[writer.name])
        if self._embedded_output is not None and previous._embedded_output is not None:
            self._embedded_output.carry_over(previous._embedded_output)

    def stats(self) -> list[OutputStats]:
        result = [writer.stats() for writer in self.writers]
        if self._embedded_output is not None:
            result.append(self._embedded_output.stats())
        return result
