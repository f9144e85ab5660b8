"""Configuration models of the metrics outputs (composed by monitor.config)."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from monitor.urls import checked_http_url


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _checked_url(url: str, secret_keys: str) -> str:
    return checked_http_url(url, "http://influx.example:8086", f"use {secret_keys}")


class BatchingSettings(_Strict):
    batch_size: int = Field(5000, ge=1, le=100_000, description="points per write request")
    flush_interval_s: float = Field(1.0, gt=0, le=300, description="longest a point waits before it is sent")
    timeout_s: float = Field(10.0, gt=0, le=300, description="HTTP timeout of one write request")
    gzip: bool = Field(True, description="compress write requests")
    verify_tls: bool = Field(True, description="check the server's TLS certificate")


class InfluxDBv2Settings(BatchingSettings):
    """InfluxDB 2.x / 3.x, or anything that speaks /api/v2/write (VictoriaMetrics)."""

    url: str = Field(..., description="base URL, e.g. http://influx.example:8086")
    org: str = Field("", description="organisation (ignored by VictoriaMetrics)")
    bucket: str = Field(..., min_length=1, description="bucket the points go to")
    token: SecretStr = Field(SecretStr(""), description="API token (secret)")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _checked_url(url, "outputs.influxdb.token")


class InfluxDBv1Settings(BatchingSettings):
    """InfluxDB 1.x through its /write endpoint."""

    url: str = Field(..., description="base URL, e.g. http://influx.example:8086")
    database: str = Field(..., min_length=1, description="database the points go to")
    retention_policy: str = Field("", description="empty: the database's default policy")
    username: str = Field("", description="empty: no authentication")
    password: SecretStr = Field(SecretStr(""), description="(secret)")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _checked_url(url, "outputs.influxdb_v1.username and password")


class EmbeddedSettings(_Strict):
    """SQLite store under state_dir, so a fresh machine is useful with no InfluxDB."""

    enabled: Optional[bool] = Field(None, description="null: on when no InfluxDB output is configured")
    retention_days: float = Field(7.0, gt=0, le=3650, description="samples older than this are pruned")


class SpoolSettings(_Strict):
    """On-disk spool for points an output could not take (one per output)."""

    max_mb: float = Field(512.0, gt=0, le=1_000_000, description="oldest points are dropped beyond this, and counted")
    retry_initial_s: float = Field(1.0, gt=0, le=600, description="first wait before a failed write is retried")
    retry_max_s: float = Field(60.0, gt=0, le=3600, description="longest wait between retries (doubling from the first)")


class OutputsSettings(_Strict):
    influxdb: Optional[InfluxDBv2Settings] = None
    influxdb_v1: Optional[InfluxDBv1Settings] = None
    embedded: EmbeddedSettings = EmbeddedSettings()
    spool: SpoolSettings = SpoolSettings()

    def embedded_enabled(self) -> bool:
        if self.embedded.enabled is not None:
            return self.embedded.enabled
        return self.influxdb is None and self.influxdb_v1 is None
