"""Billing's pure rules: money in cents, PIX codes, the subscription lifecycle, entitlements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zapgate.billing.domain import lifecycle, money, pix
from zapgate.billing.domain.entitlements import entitlements
from zapgate.common.billing import refusal

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
GRACE = timedelta(days=3)

# The example of the Central Bank's BR Code manual (a static code with no amount).
BCB_EXAMPLE = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
    "5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)


def test_money_is_cents_read_and_written_as_text() -> None:
    assert money.decimal_text(1990) == "19.90" and money.decimal_text(5) == "0.05"
    assert money.brl(123456789) == "R$ 1.234.567,89"
    assert money.cents_of("19.9") == 1990 and money.cents_of("19.90") == 1990 and money.cents_of("7") == 700
    for bad in ("19.999", "-1", "1e3", "", "0x10", "19,90"):
        with pytest.raises(ValueError):
            money.cents_of(bad)
    with pytest.raises(ValueError):
        money.decimal_text(-1)


def test_the_crc_matches_the_central_banks_example() -> None:
    assert pix.crc16(BCB_EXAMPLE[:-4]) == "1D3D"
    fields = pix.parse(BCB_EXAMPLE)
    assert pix.nested(fields["26"])["00"] == "br.gov.bcb.pix" and fields["59"] == "Fulano de Tal"


def test_a_charge_code_carries_key_amount_and_txid_and_a_valid_checksum() -> None:
    code = pix.brcode("pix@zapgate.example", "Zapgate Serviços Digitais Ltda", "São Paulo", 4990, "ZG01ABC")
    fields = pix.parse(code)
    assert fields["00"] == "01" and fields["53"] == "986" and fields["58"] == "BR"
    assert fields["54"] == "49.90"
    assert pix.nested(fields["26"]) == {"00": "br.gov.bcb.pix", "01": "pix@zapgate.example"}
    assert fields["59"] == "ZAPGATE SERVICOS DIGITAIS" and fields["60"] == "SAO PAULO"
    assert pix.nested(fields["62"]) == {"05": "ZG01ABC"}
    tampered = code.replace("5405 49.90".replace(" ", ""), "540549.91")
    with pytest.raises(ValueError):
        pix.parse(tampered)
    with pytest.raises(ValueError):
        pix.brcode("k", "n", "c", 0, "X")
    with pytest.raises(ValueError):
        pix.brcode("k", "n", "c", 100, "has space")


def test_trial_then_past_due_then_suspended_and_a_payment_makes_it_active() -> None:
    sub = lifecycle.start_trial(T0, 7)
    assert lifecycle.current(sub, T0 + timedelta(days=6), GRACE).status == "trialing"
    assert lifecycle.current(sub, T0 + timedelta(days=7), GRACE).status == "past_due"
    suspended = lifecycle.current(sub, T0 + timedelta(days=10), GRACE)
    assert suspended.status == "suspended" and not lifecycle.may_send("suspended")
    paid = lifecycle.paid(suspended, T0 + timedelta(days=12))
    assert paid.status == "active" and paid.period_end == T0 + timedelta(days=42)
    # Paid early: the new period starts where the running one ends.
    early = lifecycle.paid(paid, T0 + timedelta(days=40))
    assert early.period_start == paid.period_end
    assert lifecycle.current(paid, paid.period_end, GRACE).status == "past_due"


def test_alerts_are_due_once_per_period_by_their_keys() -> None:
    sub = lifecycle.start_trial(T0, 7)
    assert lifecycle.alerts_due(sub, T0 + timedelta(days=3), GRACE) == []
    [three] = lifecycle.alerts_due(sub, T0 + timedelta(days=4, hours=1), GRACE)
    assert three.kind == "trial_ending_3d"
    both = lifecycle.alerts_due(sub, T0 + timedelta(days=6, hours=1), GRACE)
    assert [a.kind for a in both] == ["trial_ending_3d", "trial_ending_1d"]
    assert [a.kind for a in lifecycle.usage_alerts(85, 100, "p1", "messages")] == ["messages_80pct"]
    assert [a.kind for a in lifecycle.usage_alerts(100, 100, "p1", "messages")] == [
        "messages_80pct",
        "messages_100pct",
    ]
    assert lifecycle.usage_alerts(10**9, None, "p1", "messages") == []


def test_refusals_in_the_order_the_api_answers_them() -> None:
    e = entitlements("t1", "active", "basic", 2, 100, 99, T0, T0 + timedelta(days=30), 1)
    assert refusal(e, "send") is None
    assert refusal(e, "send", sent_since=1) == (
        429,
        "quota_exceeded",
        "the basic plan's 100 messages of this period are used",
    )
    assert refusal(e, "session", sessions=1) is None
    assert refusal(e, "session", sessions=2)[:2] == (403, "plan_limit")  # type: ignore[index]
    suspended = entitlements("t1", "suspended", "basic", None, None, 0, T0, T0, 2)
    assert refusal(suspended, "send")[:2] == (402, "payment_required")  # type: ignore[index]
    unlimited = entitlements("t1", "trialing", "top", None, None, 10**9, T0, T0, 3)
    assert refusal(unlimited, "send") is None and refusal(unlimited, "session", sessions=10**6) is None


# ---------------------------------------------------------------- charges and alerts

from zapgate.billing.domain import charges  # noqa: E402
from zapgate.billing.domain.alerts import text  # noqa: E402
from zapgate.billing.domain.charges import ProviderPayment  # noqa: E402


def test_an_attempts_idempotency_key_is_stable_and_each_attempt_has_its_own() -> None:
    key = charges.idempotency_key("t1", "p1", "2026-12-08T12:00:00+00:00", 1)
    assert key == charges.idempotency_key("t1", "p1", "2026-12-08T12:00:00+00:00", 1)
    assert key.startswith("zgc-") and 1 <= len(key) <= 64
    others = {
        charges.idempotency_key("t1", "p1", "2026-12-08T12:00:00+00:00", 2),
        charges.idempotency_key("t2", "p1", "2026-12-08T12:00:00+00:00", 1),
        charges.idempotency_key("t1", "p2", "2026-12-08T12:00:00+00:00", 1),
        charges.idempotency_key("t1", "p1", "2027-01-07T12:00:00+00:00", 1),
    }
    assert key not in others and len(others) == 4


def payment(
    status: str = "approved", amount: str = "49.9", currency: str = "BRL", ref: str | None = "c1"
) -> ProviderPayment:
    return ProviderPayment("123", status, amount, currency, ref)


@pytest.mark.parametrize(
    ("charge_status", "pay", "expected"),
    [
        ("pending", payment(), "paid"),
        ("expired", payment(), "paid"),  # paid late: the money came, it counts
        ("paid", payment(), "unchanged"),
        ("pending", payment("pending"), "unchanged"),
        ("pending", payment("in_process"), "unchanged"),
        ("pending", payment("rejected"), "cancelled"),
        ("pending", payment("cancelled"), "cancelled"),
        ("paid", payment("refunded"), "refunded"),
        ("paid", payment("charged_back"), "refunded"),
        ("pending", payment("refunded"), "unchanged"),
        ("pending", payment(amount="49.89"), "mismatch:amount"),
        ("pending", payment(amount="49.901"), "mismatch:amount"),
        ("pending", payment(amount="4990"), "mismatch:amount"),
        ("pending", payment(currency="USD"), "mismatch:currency"),
        ("pending", payment(ref="c2"), "mismatch:reference"),
        ("pending", payment(ref=None), "mismatch:reference"),
    ],
)
def test_what_a_providers_payment_does_to_its_charge(
    charge_status: str, pay: ProviderPayment, expected: str
) -> None:
    assert charges.outcome(charge_status, "c1", 4990, pay) == expected


def test_a_charge_is_reused_only_while_open_and_unexpired() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    later = now + timedelta(hours=1)
    assert charges.reusable("pending", later, now) and charges.reusable("creating", later, now)
    assert not charges.reusable("pending", now, now)
    assert not charges.reusable("paid", later, now) and not charges.reusable("expired", later, now)


def test_alert_texts_write_amounts_in_reais() -> None:
    said = text("payment_received", {"amount_cents": 4990, "plan": "pro", "period_end": "2027-01-01"})
    assert said == "Payment of R$ 49,90 received: the pro plan is active until 2027-01-01."
    assert "?" in text("charge_issued", {})  # a missing detail does not fail the alert
