"""Settings every zapgate service reads from the environment (prefix ``ZAPGATE_``)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_worker_id() -> str:
    """``<hostname>:<pid>``, so an operator can find the process that holds a session."""
    return f"{socket.gethostname()}:{os.getpid()}"


class CommonSettings(BaseSettings):
    """Configuration shared by all services; each service subclasses it with its own fields."""

    model_config = SettingsConfigDict(env_prefix="ZAPGATE_", extra="ignore", frozen=True)

    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server URL(s), comma separated")
    nats_user: str | None = Field(
        None,
        description="NATS user of this service (deploy/k8s/base/nats-auth.conf gives each service its own)",
    )
    nats_password: SecretStr | None = Field(None, description="Password of ZAPGATE_NATS_USER")
    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/zapgate",
        description="PostgreSQL URL; postgresql:// is accepted and driven by asyncpg",
    )
    nats_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="Replicas of every stream, KV bucket and object store (3 on a NATS cluster)",
    )
    partitions: int = Field(64, ge=1, le=1000, description="P: command partitions, fixed per deployment")
    lease_ttl: float = Field(10.0, ge=1.0, le=300.0, description="Partition lease TTL in seconds")
    secret_key: SecretStr | None = Field(None, description="Key that encrypts session credentials")
    secret_key_previous: SecretStr | None = Field(
        None,
        description="Earlier ZAPGATE_SECRET_KEY values, comma separated: they still decrypt while a rotation runs",
    )
    admin_key: SecretStr | None = Field(None, description="Key of the tenant-managing admin")
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(8000, ge=0, le=65535)
    sim_speed: float = Field(1.0, gt=0, description="Simulator time factor: 10 runs its timers 10x faster")
    data_dir: Path = Field(Path(".zapgate"), description="Where `make run` keeps embedded servers' data")
    worker_id: str = Field(default_factory=default_worker_id)
    health_host: str = Field(
        "127.0.0.1", description="Address of the health port (0.0.0.0 in a container, for the probes)"
    )
    health_port: int | None = Field(
        None, ge=0, le=65535, description="HTTP port of /health and /ready for non-HTTP services"
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        "text", description="text lines, or one JSON object per line (with tenant, session, command)"
    )
    nats_connect_timeout: float = Field(5.0, gt=0)

    # Bounds of the shared JetStream stores, so one tenant cannot fill the disk of all. nats-server
    # reserves each max_bytes on its disk at creation, so their sum must fit in 75 % of it.
    events_max_bytes: int = Field(
        2 << 30, ge=1 << 20, description="ZG_EVENTS size; past it the oldest events go (replay window)"
    )
    events_max_age: float = Field(7 * 86400.0, gt=0, description="Seconds events are kept for replay")
    commands_max_bytes: int = Field(
        512 << 20, ge=1 << 20, description="ZG_COMMANDS size; past it new commands are refused (503)"
    )
    dlq_max_bytes: int = Field(128 << 20, ge=1 << 20, description="ZG_DLQ size; past it the oldest go")
    media_store_max_bytes: int = Field(
        2 << 30, ge=1 << 20, description="zg_media size, every tenant together; past it uploads get 507"
    )
    media_max_age: float = Field(
        30 * 86400.0, gt=0, description="Seconds media is kept in zg_media (and counts in a tenant's quota)"
    )

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, value: str) -> str:
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix) :]
        return value

    @property
    def previous_secrets(self) -> list[str]:
        """The earlier secret keys, as a list."""
        value = self.secret_key_previous.get_secret_value() if self.secret_key_previous else ""
        return [secret.strip() for secret in value.split(",") if secret.strip()]

    @property
    def nats_servers(self) -> list[str]:
        """The NATS URLs as a list."""
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]
