"""Background services connect and answer health (scheduler as the example; billing and workers share the code)."""

import httpx
import pytest
from helpers import WORKER_SECRET

from zapgate.billing.app import create_app as create_billing
from zapgate.billing.settings import Settings as BillingSettings
from zapgate.scheduler.app import create_app as create_scheduler
from zapgate.scheduler.settings import Settings as SchedulerSettings
from zapgate.session_worker.app import create_app as create_worker
from zapgate.session_worker.settings import Settings as WorkerSettings


@pytest.mark.parametrize(
    ("factory", "settings_cls", "name"),
    [
        (create_scheduler, SchedulerSettings, "scheduler"),
        (create_billing, BillingSettings, "billing"),
        (create_worker, WorkerSettings, "session-worker"),
    ],
)
async def test_service_answers_health_and_ready(
    clean_nats: str, database_url: str, factory, settings_cls, name: str
) -> None:
    service = factory(
        settings_cls(nats_url=clean_nats, database_url=database_url, health_port=0, secret_key=WORKER_SECRET)
    )
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.health.port}") as http:
            health = await http.get("/health")
            assert health.status_code == 200
            assert health.json() == {"status": "ok", "service": name}
            ready = await http.get("/ready")
            assert ready.status_code == 200, ready.text
            assert (await http.get("/nope")).status_code == 404
    finally:
        await service.stop()


async def test_ready_names_what_is_down(clean_nats: str) -> None:
    settings = SchedulerSettings(
        nats_url=clean_nats, database_url="postgresql://postgres@127.0.0.1:1/none", health_port=0
    )
    service = create_scheduler(settings)
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.health.port}") as http:
            ready = await http.get("/ready")
            assert ready.status_code == 503
            body = ready.json()
            assert list(body["down"]) == ["postgres"]
    finally:
        await service.stop()
