"""Who a message goes to: phone numbers and chat ids."""

import pytest

from zapgate.common.messages import MessageState
from zapgate.common.recipients import BadRecipient, chat_id, phone_of
from zapgate.session_worker.domain.simulator import ack_schedule, on_whatsapp


@pytest.mark.parametrize(
    ("to", "chat"),
    [
        ("5511987654321", "5511987654321@c.us"),
        ("+5511987654321", "5511987654321@c.us"),
        (" +14155552671 ", "14155552671@c.us"),
        ("5511987654321@c.us", "5511987654321@c.us"),
        ("5511987654321@s.whatsapp.net", "5511987654321@c.us"),
        ("5511987654321-1612345678@g.us", "5511987654321-1612345678@g.us"),
    ],
)
def test_valid_recipients_become_chat_ids(to: str, chat: str) -> None:
    assert chat_id(to) == chat


@pytest.mark.parametrize(
    ("to", "why"),
    [
        ("hello", "not a phone number"),
        ("+55 11 98765-4321", "not a phone number"),
        ("0011987654321", "Could not interpret"),
        ("+15550000", "not a valid phone number"),
        ("abc@c.us", "not a chat id"),
        ("5511987654321@evil.com", "not a chat id"),
    ],
)
def test_invalid_recipients_say_why(to: str, why: str) -> None:
    with pytest.raises(BadRecipient, match=why):
        chat_id(to)


def test_phone_of_one_to_one_chats_only() -> None:
    assert phone_of("5511987654321@c.us") == "5511987654321"
    assert phone_of("5511987654321-1612345678@g.us") is None


def test_simulated_contacts_ack_in_order_and_voice_is_played() -> None:
    text = [status for status, _ in ack_schedule("text", 1.0)]
    voice = ack_schedule("voice", 10.0)
    assert text == ["delivered", "read"]
    assert [s for s, _ in voice] == ["delivered", "read", "played"]
    assert [MessageState(s).rank for s, _ in voice] == sorted(MessageState(s).rank for s, _ in voice)
    assert voice[0][1] == pytest.approx(0.04)  # the speed factor divides the delays
    assert on_whatsapp("5511987654321@c.us") and not on_whatsapp("5511987650000@c.us")


@pytest.mark.parametrize("given", ["5511987654321\n", "5511987654321@c.us\n", " +5511987654321 "])
def test_surrounding_whitespace_is_dropped_and_never_reaches_the_chat_id(given: str) -> None:
    assert chat_id(given) == "5511987654321@c.us"
