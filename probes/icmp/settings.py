"""Settings of the ICMP probe (kept apart from the engine so config loading stays light)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator


class IcmpOverride(BaseModel):
    """What a class, a site or a device may change for its own devices."""

    model_config = ConfigDict(extra="forbid")

    enabled: Optional[bool] = None
    interval_s: Optional[float] = Field(None, ge=1, le=86_400)
    count: Optional[int] = Field(None, ge=1, le=1000)
    timeout_s: Optional[float] = Field(None, gt=0, le=60)


class IcmpSettings(BaseModel):
    """Global ICMP settings (`probes.icmp`).

    Default: 20 echoes per 30 s run, 50 ms apart. Twenty echoes per round is what
    SmokePing uses; it gives 5 % loss resolution per run and 2,400 echoes an hour per
    device, so the 1-2 % loss that breaks video shows as one lost echo every one or two
    minutes, which the rules average over a window. 30 s keeps "device down" well inside
    the 3-minute response clock.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="probe devices with ICMP echo")
    interval_s: float = Field(30.0, ge=1, le=86_400, description="seconds between runs for one device")
    count: int = Field(20, ge=1, le=1000, description="echo requests per device per run")
    echo_interval_ms: float = Field(50.0, ge=1, le=10_000, description="spacing of the echoes to one device")
    timeout_s: float = Field(1.0, gt=0, le=60, description="wait for each reply")
    payload_bytes: int = Field(56, ge=8, le=1472, description="ICMP payload size (56 like ping; the first 8 bytes carry a random token)")
    mode: Literal["auto", "unprivileged", "privileged"] = Field(
        "auto", description="auto: ping sockets if permitted, else raw sockets")
    max_rate_pps: int = Field(20_000, ge=1, le=1_000_000, description="echo requests per second, all devices together")
    max_concurrent_runs: int = Field(64, ge=1, le=10_000, description="ICMP runs (buckets) in progress at once")

    @model_validator(mode="after")
    def _run_fits_interval(self) -> "IcmpSettings":
        span = (self.count - 1) * self.echo_interval_ms / 1000 + self.timeout_s
        if span >= self.interval_s:
            raise ValueError(
                f"a run lasts (count-1) x echo_interval_ms + timeout_s = {span:g} s, which must be "
                f"shorter than interval_s = {self.interval_s:g} s; lower count or timeout_s, or raise interval_s")
        return self

    def merged(self, *overrides: Optional[IcmpOverride]) -> "IcmpSettings":
        """These settings with class/site/device overrides applied in order (later wins)."""
        values = {}
        for override in overrides:
            if override is not None:
                values.update(override.model_dump(exclude_none=True))
        if not values:
            return self
        return self.model_validate({**self.model_dump(), **values})
