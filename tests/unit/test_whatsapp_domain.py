"""The whatsapp engine's pure decisions: numbers, receipts, reasons, the store URL."""

from zapgate.common.messages import MessageState
from zapgate.session_worker.domain import whatsapp as wa


def test_a_brazilian_mobile_is_tried_with_and_without_the_ninth_digit() -> None:
    assert wa.phone_variants("5511987654321") == ["5511987654321", "551187654321"]
    assert wa.phone_variants("+55 (11) 8765-4321") == ["551187654321", "5511987654321"]
    assert wa.phone_variants("551132654321") == ["551132654321"]  # a landline has no ninth digit
    assert wa.phone_variants("14155550100") == ["14155550100"]


def test_receipts_move_a_message_only_forward_kinds() -> None:
    assert wa.receipt_state(1) == MessageState.DELIVERED
    assert wa.receipt_state(4) == MessageState.READ
    assert wa.receipt_state(6) == MessageState.PLAYED
    assert wa.receipt_state(3) is None and wa.receipt_state(8) is None  # retry, server error


def test_reasons_read_as_sentences() -> None:
    assert (
        wa.unreachable_reason(
            "failed to dial whatsapp web websocket: dial tcp: lookup web.whatsapp.com: network is unreachable"
        )
        == "cannot reach WhatsApp: network is unreachable"
    )
    assert wa.logout_reason(2) == "logged out from the phone"
    assert wa.logout_reason(99) == "WhatsApp ended the session (reason 99)"
    assert wa.is_logout(4) and not wa.is_logout(3)
    assert "for about 24 h (the same message sent too many times)" in wa.temporary_ban_reason(4, 86400)


def test_the_store_url_is_lib_pq_with_sslmode_said() -> None:
    assert (
        wa.store_url("postgresql+asyncpg://zg:pw@db:5432/zapgate")
        == "postgres://zg:pw@db:5432/zapgate?sslmode=disable"
    )
    assert (
        wa.store_url("postgresql+asyncpg://zg@db/zapgate?ssl=require")
        == "postgres://zg@db/zapgate?sslmode=require"
    )


def test_a_contact_card_is_a_vcard_with_the_whatsapp_id() -> None:
    card = wa.vcard("Ana; Maria", "+55 11 95555-4444")
    assert "FN:Ana  Maria" in card and "waid=5511955554444:+5511955554444" in card
