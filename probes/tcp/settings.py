"""Settings of the TCP connect probe (`probes.tcp`, and `tcp:` overrides in the inventory)."""

from __future__ import annotations

from typing import Annotated, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from probes.base import merge_overrides

Port = Annotated[int, Field(ge=1, le=65_535)]


class TcpOverride(BaseModel):
    """What a class, a site or a device may change for its own devices (`tcp:` in the inventory)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: Optional[bool] = None
    ports: Optional[tuple[Port, ...]] = Field(None, max_length=64)
    interval_s: Optional[float] = Field(None, ge=1, le=86_400)
    timeout_s: Optional[float] = Field(None, gt=0, le=60)


class TcpSettings(BaseModel):
    """Global TCP connect settings (`probes.tcp`): whether a device's service ports accept a
    connection, and how long the handshake took. Nothing is sent; the connection is closed at
    once. Off until `ports` are given (in the settings, or per class, site or device)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="connect to the `ports` of devices that have some")
    ports: tuple[Port, ...] = Field((), max_length=64, description="TCP ports to connect to, e.g. [22, 443]")
    interval_s: float = Field(60.0, ge=1, le=86_400, description="seconds between runs for one device")
    timeout_s: float = Field(3.0, gt=0, le=60, description="wait for the handshake (a dropped SYN is a timeout)")
    max_connects: int = Field(256, ge=1, le=100_000, description="connections being opened at once, all devices")
    max_concurrent_runs: int = Field(16, ge=1, le=10_000, description="TCP runs (buckets) in progress at once")

    @model_validator(mode="after")
    def _valid(self) -> "TcpSettings":
        if self.timeout_s >= self.interval_s:
            raise ValueError(f"timeout_s = {self.timeout_s:g} s must be shorter than interval_s = {self.interval_s:g} s")
        return self

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.ports)

    def merged(self, *overrides: Optional[TcpOverride]) -> "TcpSettings":
        """These settings with class/site/device overrides applied in order (later wins)."""
        return merge_overrides(self, overrides)
