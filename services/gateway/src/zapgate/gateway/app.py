"""Gateway wiring: ``create_app(settings)`` builds the Litestar application."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.prometheus import PrometheusConfig

from zapgate.common import tracing
from zapgate.gateway.auth import PUBLIC_PATHS, ApiKeyAuthentication
from zapgate.gateway.controllers.billing import BillingController, PlanController, SubscriptionController
from zapgate.gateway.controllers.campaigns import CampaignController
from zapgate.gateway.controllers.cluster import ClusterController
from zapgate.gateway.controllers.compat import CompatController
from zapgate.gateway.controllers.contacts import ContactListController, SuppressionController
from zapgate.gateway.controllers.dashboard import ASSETS_PATH, DashboardPage, assets_router
from zapgate.gateway.controllers.health import HealthController
from zapgate.gateway.controllers.me import MeController
from zapgate.gateway.controllers.messages import MessageController
from zapgate.gateway.controllers.metrics import MetricsController
from zapgate.gateway.controllers.nats_users import NatsUserController
from zapgate.gateway.controllers.payments import ChargeController, PaymentWebhookController
from zapgate.gateway.controllers.schedules import ScheduleController, TemplateController
from zapgate.gateway.controllers.sessions import SessionController
from zapgate.gateway.controllers.tenants import TenantController
from zapgate.gateway.controllers.webhooks import WebhookController
from zapgate.gateway.controllers.ws import WebSocketController
from zapgate.gateway.cors import OptionsMiddleware, cors_middleware
from zapgate.gateway.domain.quotas import QuotaExceeded
from zapgate.gateway.errors import http_error, internal_error, quota_error
from zapgate.gateway.openapi import FieldStrictInitPlugin, StrictBodiesSchemaPlugin, operation_id
from zapgate.gateway.query import SingleValuedQuery
from zapgate.gateway.settings import Settings
from zapgate.gateway.state import GatewayState, provide_gateway

VERSION = "0.1.0"
# One span per HTTP request (not one more per ASGI message), none for probes and scrapes; a
# WebSocket's pushes are traced per event instead of one span as long as the socket.
TRACED_HTTP = OpenTelemetryConfig(
    exclude_spans=["receive", "send"],
    exclude=["^/health$", "^/ready$", "^/metrics$"],
    scopes={ScopeType.HTTP},
)


def create_app(settings: Settings | None = None) -> Litestar:
    """The gateway application; tests pass their own settings."""
    settings = settings or Settings()
    gateway = GatewayState(settings)
    auth = DefineMiddleware(
        ApiKeyAuthentication, exclude=[f"^{p}$" for p in PUBLIC_PATHS] + [f"^{ASSETS_PATH}/"]
    )
    cors = cors_middleware(settings.cors_origin_list)
    prometheus = PrometheusConfig(
        app_name="zapgate-gateway", prefix="zapgate", group_path=True, exclude=["/metrics"]
    )
    return Litestar(
        route_handlers=[
            HealthController,
            TenantController,
            NatsUserController,
            ClusterController,
            MeController,
            SessionController,
            MessageController,
            WebSocketController,
            CompatController,
            ContactListController,
            SuppressionController,
            TemplateController,
            ScheduleController,
            CampaignController,
            PlanController,
            SubscriptionController,
            BillingController,
            ChargeController,
            PaymentWebhookController,
            WebhookController,
            MetricsController,
            assets_router(),
        ],
        dependencies={"gateway": Provide(provide_gateway, sync_to_thread=False)},
        # Prometheus counts every request by route template (bounded cardinality), 401s included.
        middleware=[
            *([cors] if cors is not None else []),
            OptionsMiddleware(),
            prometheus.middleware,
            SingleValuedQuery(),
            auth,
        ],
        on_startup=[gateway.start],
        on_shutdown=[gateway.stop],
        state=State({"gateway": gateway}),
        exception_handlers={HTTPException: http_error, QuotaExceeded: quota_error, Exception: internal_error},
        request_max_body_size=settings.max_body_size,
        openapi_config=OpenAPIConfig(
            title="zapgate",
            version=VERSION,
            description="Multi-tenant WhatsApp session gateway",
            path="/",
            render_plugins=[DashboardPage(), SwaggerRenderPlugin(path="/docs")],
            components=Components(
                security_schemes={
                    "ApiKey": SecurityScheme(type="apiKey", name="X-Api-Key", security_scheme_in="header"),
                    "Bearer": SecurityScheme(type="http", scheme="bearer"),
                }
            ),
            security=[{"ApiKey": []}, {"Bearer": []}],
            operation_id_creator=operation_id,
        ),
        plugins=[
            StrictBodiesSchemaPlugin(),
            FieldStrictInitPlugin(),
            *([OpenTelemetryPlugin(TRACED_HTTP)] if tracing.active() else []),
        ],
        debug=False,
        # Our own handler: Litestar's default logs through a queue thread, whose last records are
        # lost when uvicorn re-raises SIGTERM at exit.
        logging_config=None,
    )
