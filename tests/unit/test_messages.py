from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from zapgate.common.messages import (
    SCHEMA_VERSION,
    CommandRejected,
    MessageState,
    QrCodeIssued,
    RequestPairingCode,
    SessionStatus,
    SessionStatusChanged,
    StartSession,
    command_adapter,
    encode,
    event_adapter,
    furthest,
)


def test_every_message_carries_the_envelope() -> None:
    cmd = StartSession(tenant="T1", session="main")
    assert len(cmd.id) == 26
    assert cmd.time.tzinfo is not None
    assert cmd.schema_version == SCHEMA_VERSION
    assert cmd.verb == "start"


def test_messages_are_frozen_and_strict() -> None:
    cmd = StartSession(tenant="T1", session="main")
    with pytest.raises(ValidationError):
        cmd.tenant = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        StartSession(tenant="T1", session="main", surprise=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        StartSession(tenant="T1", session="Not Valid")


def test_commands_round_trip_through_the_discriminated_union() -> None:
    original = RequestPairingCode(tenant="T1", session="main", phone="5511999999999")
    decoded = command_adapter.validate_json(encode(original))
    assert decoded == original
    assert isinstance(decoded, RequestPairingCode)


def test_unknown_verb_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        command_adapter.validate_json(b'{"tenant":"T1","session":"main","verb":"explode"}')


@pytest.mark.parametrize("phone", ["0551199999", "123456", "+5511999999999", "55 11 9999"])
def test_pairing_needs_digits_only_more_than_six_no_leading_zero(phone: str) -> None:
    with pytest.raises(ValidationError):
        RequestPairingCode(tenant="T1", session="main", phone=phone)


def test_events_round_trip_and_expose_their_data() -> None:
    status = SessionStatusChanged(
        tenant="T1", session="main", status=SessionStatus.CONNECTED, previous=SessionStatus.SCAN_QR, epoch=5
    )
    decoded = event_adapter.validate_json(encode(status))
    assert decoded == status
    assert status.data() == {
        "status": "CONNECTED",
        "previous": "SCAN_QR",
        "reason": None,
        "worker": None,
        "phone": None,
        "epoch": 5,
    }
    qr = QrCodeIssued(tenant="T1", session="main", value="x", index=0, expires_at=datetime.now(UTC))
    assert event_adapter.validate_json(encode(qr)) == qr
    rejected = CommandRejected(tenant="T1", session="main", subject="zg.cmd.1.T1.main.x", reason="invalid")
    assert event_adapter.validate_json(encode(rejected)).type == "command.rejected"


def test_furthest_keeps_each_messages_highest_ranked_move_whatever_the_order() -> None:
    @dataclass(frozen=True)
    class Move:
        id: str
        status: MessageState

    moves = [
        Move("a", MessageState.READ),
        Move("b", MessageState.SENT),
        Move("a", MessageState.DELIVERED),
        Move("b", MessageState.FAILED),
        Move("a", MessageState.SENT),
    ]
    assert furthest(moves, lambda m: m.id) == {
        "a": Move("a", MessageState.READ),
        "b": Move("b", MessageState.FAILED),
    }
    assert furthest([], lambda m: m.id) == {}
