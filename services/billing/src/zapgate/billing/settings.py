"""Settings of billing (environment prefix ``ZAPGATE_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from zapgate.common.settings import CommonSettings


class Settings(CommonSettings):
    """Billing settings; the shared ones come from CommonSettings."""

    billing_trial_days: int = Field(7, ge=0, le=365, description="Trial of a new tenant, days")
    billing_grace_days: int = Field(3, ge=0, le=90, description="Past due this long, then suspended")
    billing_default_plan: str = Field("starter", min_length=1, max_length=100)
    billing_default_price_cents: int = Field(
        4990, ge=0, description="Price of the default plan when it is created"
    )
    billing_tick: float = Field(5.0, gt=0, le=3600, description="Seconds between lifecycle passes")
    billing_publish_interval: float = Field(
        1.0, gt=0, le=60, description="Seconds between entitlement publishes"
    )
    billing_clock_file: Path | None = Field(None, description="Tests only: seconds added to the clock")

    billing_metering: bool = Field(True, description="Count each tenant's sent messages (false: plans only)")
    billing_provider: Literal["simulator", "mercadopago"] = Field(
        "simulator", description="Who issues PIX charges: the simulator (no account) or Mercado Pago"
    )
    billing_mercadopago_access_token: SecretStr | None = Field(
        None, description="Mercado Pago access token (required with ZAPGATE_BILLING_PROVIDER=mercadopago)"
    )
    billing_mercadopago_api_url: str | None = Field(
        None, description="Another base URL for Mercado Pago's API (a sandbox proxy; the tests' fake)"
    )
    billing_webhook_secret: SecretStr | None = Field(
        None,
        description="Secret that signs payment notifications (Mercado Pago's panel shows it; the "
        "simulator's is derived from ZAPGATE_SECRET_KEY when unset)",
    )
    billing_webhook_tolerance: float = Field(
        300.0, gt=0, le=86400, description="Seconds a notification's signed timestamp may be off"
    )
    billing_charge_hours: int = Field(24, ge=1, le=720, description="A PIX charge expires after this long")
    billing_payer_email: str = Field(
        "billing@example.com", description="The payer e-mail sent to the provider when the tenant gives none"
    )
    billing_pix_key: str = Field(
        "00000000-0000-4000-8000-000000000000", description="Simulator: the PIX key its codes pay"
    )
    billing_merchant_name: str = Field("ZAPGATE", description="Simulator: the receiver's name in its codes")
    billing_merchant_city: str = Field("SAO PAULO", description="Simulator: the receiver's city")
    billing_simulator_webhook_url: str | None = Field(
        None,
        description="Simulator: where it sends its notifications (default the local gateway's "
        "/api/v1/billing/webhooks/simulator)",
    )

    @field_validator("billing_mercadopago_access_token", "billing_webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose passes an unset variable as "": a secret that is empty is no secret.
        return None if value == "" else value

    @model_validator(mode="after")
    def _provider_configured(self) -> Settings:
        if self.billing_provider == "mercadopago" and (
            self.billing_mercadopago_access_token is None or self.billing_webhook_secret is None
        ):
            raise ValueError(
                "ZAPGATE_BILLING_PROVIDER=mercadopago needs ZAPGATE_BILLING_MERCADOPAGO_ACCESS_TOKEN and "
                "ZAPGATE_BILLING_WEBHOOK_SECRET"
            )
        return self
