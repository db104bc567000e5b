"""Gateway settings (environment prefix ``ZAPGATE_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from zapgate.common.settings import CommonSettings
from zapgate.gateway.domain.quotas import Quotas

MIN_ADMIN_KEY = 24


class Settings(CommonSettings):
    """Gateway settings; the shared ones come from CommonSettings."""

    @field_validator("admin_key")
    @classmethod
    def _strong_admin_key(cls, value: SecretStr | None) -> SecretStr | None:
        """The admin key rules every tenant: refuse one that could be guessed."""
        if value is not None:
            secret = value.get_secret_value()
            if len(secret) < MIN_ADMIN_KEY or len(set(secret)) < 10:
                raise ValueError(
                    f"ZAPGATE_ADMIN_KEY must be at least {MIN_ADMIN_KEY} characters and not repetitive "
                    "(e.g. python3 -c 'import secrets; print(\"zgadmin_\" + secrets.token_urlsafe(32))')"
                )
        return value

    cors_origins: str = Field(
        "",
        description=(
            "Browser origins allowed to call the API and open the WebSocket, comma separated "
            "(e.g. https://crm.example.com); none by default: same origin only"
        ),
    )

    @property
    def cors_origin_list(self) -> list[str]:
        """The allowed origins as a list."""
        return [origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()]

    nats_callout_seed: SecretStr | None = Field(
        None,
        description=(
            "Account seed (SA...) that signs the gateway's answers to nats-server's auth callout: "
            "with it the gateway authorizes tenants' NATS users (nats-server's config names its "
            "public key as the callout issuer); without, tenants' NATS users are refused"
        ),
    )
    nats_tenant_ttl: int = Field(
        600, ge=30, le=86_400,
        description="Seconds a tenant's NATS connection is authorized for before it is asked about again "
        "(how long a revoked NATS user can stay connected)",
    )  # fmt: skip

    webhook_allow_private: bool = Field(
        False,
        description="Deliver webhooks to URLs that resolve to loopback, private or link-local addresses",
    )
    webhook_timeout: float = Field(
        15.0,
        gt=0,
        le=60,
        description="Seconds a webhook receiver has to answer (each connect, read and write)",
    )
    billing_enforce: bool = Field(
        True, description="Refuse what the tenant's plan and subscription do not allow (false: no plans)"
    )
    max_body_size: int = Field(
        32 * 1024 * 1024, ge=1024, description="Largest request body accepted, bytes (413 above)"
    )
    db_pool_size: int = Field(
        40,
        ge=1,
        le=1000,
        description="PostgreSQL connections kept open per gateway process (as many again on bursts)",
    )
    media_max_image: int = Field(5 * 1024 * 1024, ge=1, description="Largest image, bytes (413 above)")
    media_max_video: int = Field(16 * 1024 * 1024, ge=1, description="Largest video, bytes")
    media_max_audio: int = Field(16 * 1024 * 1024, ge=1, description="Largest audio file, bytes")
    media_max_voice: int = Field(16 * 1024 * 1024, ge=1, description="Largest voice note, bytes")
    media_max_document: int = Field(100 * 1024 * 1024, ge=1, description="Largest document, bytes")
    media_allow_private: bool = Field(
        False, description="Fetch media URLs that resolve to loopback, private or link-local addresses"
    )
    media_fetch_timeout: float = Field(
        20.0, gt=0, description="Seconds to download a media URL, every redirect included"
    )
    media_fetch_concurrency: int = Field(
        8, ge=1, description="Media URL downloads at once per gateway process"
    )

    def media_limit(self, kind: str) -> int:
        """The size limit of a media type."""
        limit: int = getattr(self, f"media_max_{kind}")
        return limit

    ws_buffer_bytes: int = Field(
        4 * 1024 * 1024, ge=64 * 1024, description="Bytes of frames a WebSocket may have unsent before 4008"
    )
    ws_max_per_key: int = Field(10, ge=1, description="Open WebSockets per API key, per gateway process")
    ws_max_per_tenant: int = Field(50, ge=1, description="Open WebSockets per tenant, per gateway process")

    auth_failure_limit: int = Field(
        20, ge=1, description="Failed authentications per client address in a window before 429"
    )
    auth_failure_window: float = Field(60.0, gt=0, description="Seconds of that window")

    # Per-tenant quotas (0: unlimited); the admin can set other values for one tenant.
    quota_sessions: int = Field(100, ge=0, description="Sessions a tenant may have (403 quota_exceeded)")
    quota_api_keys: int = Field(20, ge=0, description="Live API keys a tenant may have")
    quota_media_bytes: int = Field(
        256 << 20,
        ge=0,
        description="Bytes of media a tenant may keep in zg_media within ZAPGATE_MEDIA_MAX_AGE",
    )
    quota_tickets_per_minute: int = Field(
        60, ge=0, description="WebSocket tickets a tenant may mint per minute, per gateway process (429)"
    )

    def quotas(self) -> Quotas:
        """The default quotas of every tenant."""
        return Quotas(
            sessions=self.quota_sessions or None,
            api_keys=self.quota_api_keys or None,
            media_bytes=self.quota_media_bytes or None,
            tickets_per_minute=self.quota_tickets_per_minute or None,
        )

    requeue_after: float = Field(
        30.0,
        gt=0,
        description="Seconds after a send's failed publish (a 503) before the gateway publishes it itself",
    )
    requeue_interval: float = Field(
        10.0, gt=0, description="Seconds between looks for sends whose publish failed"
    )

    api_key_cache_ttl: float = Field(
        30.0,
        ge=0,
        le=300,
        description=(
            "Seconds a verified API key is cached; revocations are broadcast, and this bounds how long "
            "another replica can accept a revoked key when the broadcast cannot reach it"
        ),
    )
