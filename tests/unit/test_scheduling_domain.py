"""The scheduler's pure domain: templates, recurrence across DST, catch-up, contacts, opt-out words."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from zapgate.common.scheduling import ContactIn, SendingWindow, Throttle
from zapgate.scheduler.domain import campaigns, contacts, recurrence, templates
from zapgate.scheduler.domain.recurrence import Timing


def cron(expr: str, tz: str, **kw: object) -> Timing:
    return Timing(kind="cron", cron=expr, timezone=tz, **kw)  # type: ignore[arg-type]


def local(times: list[datetime], tz: str) -> list[str]:
    return [t.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M %z") for t in times]


# ---------------------------------------------------------------- templates


def test_placeholders_are_filled_and_a_missing_one_is_named() -> None:
    message = {"type": "text", "text": "Olá {{ name }}, pedido {{order}}"}
    assert templates.variables(message) == ["name", "order"]
    out = templates.render(message, {"name": "Ana", "order": "42"}, "seed")
    assert out == {"type": "text", "text": "Olá Ana, pedido 42"}
    with pytest.raises(templates.MissingVariable) as missing:
        templates.render(message, {"name": "Ana"}, "seed")
    assert missing.value.name == "order"
    assert templates.missing(message, {"name": "Ana", "order": ""}) == ["order"]


def test_a_value_is_never_read_as_template_syntax() -> None:
    out = templates.render_text("{{a}} {x|y}", {"a": "{{b}} {p|q} {%raw%}"}, "s")
    assert out.startswith("{{b}} {p|q} {%raw%} ")
    assert out.endswith(("x", "y"))


def test_variations_are_stable_per_seed_and_spread_over_recipients() -> None:
    text = "{Olá|Oi|Bom dia} {{name}}"
    first = templates.render_text(text, {"name": "Ana"}, "sched:1")
    assert all(templates.render_text(text, {"name": "Ana"}, "sched:1") == first for _ in range(5))
    picks = {templates.render_text(text, {"name": "A"}, f"sched:{n}").split()[0] for n in range(60)}
    assert picks == {"Olá", "Oi", "Bom"}
    # A placeholder inside a variation is filled whichever option is picked.
    assert templates.render_text("{Oi {{name}}|Olá {{name}}}", {"name": "Bia"}, "x") in {"Oi Bia", "Olá Bia"}


def test_output_is_capped_and_captions_are_rendered() -> None:
    with pytest.raises(templates.TooLong):
        templates.render_text("{{a}}{{a}}", {"a": "x" * 3000}, "s")
    media = {
        "type": "image",
        "media": {"url": "https://e.x/a.png", "mimetype": "image/png"},
        "caption": "{{n}}",
    }
    assert templates.render(media, {"n": "1"}, "s")["caption"] == "1"


def test_contact_values_layer_fields_over_variables_over_defaults() -> None:
    values = templates.contact_values(
        {"greeting": "Oi", "city": "SP"}, {"city": "RJ", "x": "1"}, "5511999990000", "Ana Maria", {"x": "2"}
    )
    assert values == {
        "greeting": "Oi", "city": "RJ", "x": "2", "phone": "5511999990000", "name": "Ana Maria", "first_name": "Ana",
    }  # fmt: skip


# ---------------------------------------------------------------- recurrence


def test_spring_forward_fires_once_at_the_first_valid_time() -> None:
    t = cron("30 2 * * *", "Europe/Berlin")
    start = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert local(recurrence.upcoming(t, start, 0, 3), "Europe/Berlin") == [
        "03-29 03:00 +0200", "03-30 02:30 +0200", "03-31 02:30 +0200",
    ]  # fmt: skip


def test_fall_back_fires_once_in_the_repeated_hour() -> None:
    t = cron("30 1 * * *", "America/New_York")
    times = recurrence.upcoming(t, datetime(2026, 10, 31, 12, tzinfo=UTC), 0, 3)
    assert local(times, "America/New_York") == ["11-01 01:30 -0400", "11-02 01:30 -0500", "11-03 01:30 -0500"]
    assert len(set(times)) == 3


def test_a_zone_with_a_30_minute_dst_shift() -> None:
    # Lord Howe Island moves its clocks by 30 minutes (back on 2026-04-05 at 02:00).
    t = cron("45 1 * * *", "Australia/Lord_Howe")
    times = recurrence.upcoming(t, datetime(2026, 4, 3, 12, tzinfo=UTC), 0, 3)
    assert local(times, "Australia/Lord_Howe") == [
        "04-04 01:45 +1100",
        "04-05 01:45 +1100",
        "04-06 01:45 +1030",
    ]


def test_sao_paulo_weekdays_at_nine_in_utc() -> None:
    t = cron("0 9 * * 1-5", "America/Sao_Paulo")
    times = recurrence.upcoming(t, datetime(2026, 3, 27, 13, tzinfo=UTC), 0, 2)  # a Friday, 10:00 local
    assert times == [datetime(2026, 3, 30, 12, tzinfo=UTC), datetime(2026, 3, 31, 12, tzinfo=UTC)]


def test_interval_start_end_and_count() -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    t = Timing(kind="interval", interval_seconds=3600, start_at=start, end_at=start + timedelta(hours=3))
    assert recurrence.upcoming(t, None, 0, 10) == [start + timedelta(hours=h) for h in range(4)]
    counted = Timing(kind="interval", interval_seconds=3600, start_at=start, max_count=2)
    assert recurrence.upcoming(counted, None, 0, 10) == [start, start + timedelta(hours=1)]
    assert recurrence.next_fire(counted, start, 2) is None
    anchored = Timing(kind="interval", interval_seconds=600, anchor=start)
    assert recurrence.first_fire(anchored, start) == start + timedelta(minutes=10)
    # Between two times, the next one is the following step, never a time already past.
    assert recurrence.next_fire(anchored, start + timedelta(minutes=25), 0) == start + timedelta(minutes=30)


def test_first_fire_of_a_cron_is_after_now_or_at_a_future_start() -> None:
    now = datetime(2026, 1, 1, 9, 5, tzinfo=UTC)
    assert recurrence.first_fire(cron("0 * * * *", "UTC"), now) == datetime(2026, 1, 1, 10, tzinfo=UTC)
    later = cron("0 * * * *", "UTC", start_at=datetime(2026, 2, 1, 0, tzinfo=UTC))
    assert recurrence.first_fire(later, now) == datetime(2026, 2, 1, 0, tzinfo=UTC)
    once = Timing(kind="once", send_at=now)
    assert recurrence.first_fire(once, now) == now
    assert recurrence.next_fire(once, now, 1) is None


@pytest.mark.parametrize(
    ("timing", "field"),
    [
        (cron("0 9 * *", "UTC"), "cron"),
        (cron("0 9 * * 8", "UTC"), "cron"),
        (cron("0 9 * * *", "America/Nowhere"), "timezone"),
    ],
)
def test_bad_timings_name_their_field(timing: Timing, field: str) -> None:
    with pytest.raises(recurrence.BadTiming) as bad:
        recurrence.check(timing)
    assert bad.value.field == field


def test_catch_up_sends_the_latest_time_in_the_window_and_records_the_rest() -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    t = Timing(kind="interval", interval_seconds=600, start_at=start)
    window = timedelta(minutes=30)
    on_time = recurrence.plan(t, start, start + timedelta(seconds=2), 0, window)
    assert (
        on_time.missed == []
        and on_time.fire == start
        and on_time.next_fire_at == start + timedelta(minutes=10)
    )
    # 45 minutes late: 09:40 is sent (5 minutes late); 09:00..09:30 were superseded or too late.
    late = recurrence.plan(t, start, start + timedelta(minutes=45), 0, window)
    assert late.fire == start + timedelta(minutes=40)
    assert late.missed == [start + timedelta(minutes=m) for m in (0, 10, 20, 30)]
    assert late.next_fire_at == start + timedelta(minutes=50)
    # Past the window for the only due time: nothing sent, recorded missed, the next time kept.
    once = Timing(kind="once", send_at=start)
    gone = recurrence.plan(once, start, start + timedelta(hours=2), 0, window)
    assert gone.fire is None and gone.missed == [start] and gone.next_fire_at is None


def test_a_long_outage_is_recorded_in_bounded_passes() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    t = Timing(kind="interval", interval_seconds=60, start_at=start)
    now = start + timedelta(days=2)
    first = recurrence.plan(t, start, now, 0, timedelta(minutes=5))
    assert len(first.missed) == recurrence.MAX_MISSED_PER_PASS and first.fire is None
    assert first.next_fire_at == start + timedelta(minutes=recurrence.MAX_MISSED_PER_PASS)


# ---------------------------------------------------------------- contacts and opt-out


def test_phones_in_human_formats_become_chat_ids() -> None:
    for human in ("+55 (11) 98888-7777", "0055 11 98888 7777", "5511988887777", "+55.11.98888.7777"):
        assert contacts.member(ContactIn(phone=human)).chat == "5511988887777@c.us", human


def test_csv_reports_every_rejected_line() -> None:
    taken, rejected = contacts.parse_csv(
        "\ufeffPhone,Name,Tags,Cidade\n"
        "+55 11 98888-0001,Ana,vip;novo,SP\n"
        "\n"
        "123,Short,,\n"
        "5511988880002,Bia\n"
        "5511988880001,Ana de novo,,RJ\n"
    )
    assert [(m.chat, m.name, m.tags, m.fields) for m in taken] == [
        ("5511988880001@c.us", "Ana de novo", [], {"cidade": "RJ"}),
    ]
    assert [(r.line, r.phone) for r in rejected] == [(4, "123"), (5, None)]
    assert "columns" in rejected[1].reason
    assert contacts.parse_csv("name\nAna\n")[1][0].reason == "no 'phone' column in the header"
    assert contacts.parse_csv("")[1][0].line == 1


@pytest.mark.parametrize(("text", "out"), [("SAIR", True), (" sair ", True), ("Parar!", True), ("stop.", True),
                                           ("não quero sair", False), ("SAIRR", False)])  # fmt: skip
def test_opt_out_is_the_whole_message(text: str, out: bool) -> None:
    assert contacts.is_optout(text, list(contacts.DEFAULT_OPTOUT)) is out
    assert contacts.is_optout("cancelar", ["CANCELAR", "Não"]) is True


# ---------------------------------------------------------------- campaigns


def test_slots_keep_the_rate_whatever_the_pass_interval() -> None:
    rng = random.Random(1)
    fast = Throttle(per_minute=6000)
    t0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
    nxt, sent = t0, 0
    for second in range(1, 11):  # a pass a second for 10 s: 100 a second
        got = campaigns.slots(fast, nxt, t0 + timedelta(seconds=second), 0, rng)
        sent, nxt = sent + got.count, got.next_send_at
    assert 999 <= sent <= 1001
    slow = Throttle(per_minute=2)
    assert campaigns.slots(slow, t0, t0, 0, rng).count == 1
    assert campaigns.slots(slow, t0 + timedelta(seconds=30), t0 + timedelta(seconds=10), 0, rng).count == 0
    # A pass that comes 5 s late catches up one pass's worth (the backlog), not the 5 s.
    late = campaigns.slots(fast, t0, t0 + timedelta(seconds=5), 0, rng, backlog=timedelta(seconds=1))
    assert late.count == 1
    # After an idle hour the session starts again from now: one send, not 120.
    idle = campaigns.slots(slow, t0, t0 + timedelta(hours=1), 0, rng)
    assert idle.count == 1 and idle.next_send_at == t0 + timedelta(hours=1, seconds=30)
    capped = campaigns.slots(
        Throttle(per_minute=6000, daily_cap=10), t0, t0 + timedelta(milliseconds=40), 7, rng
    )
    assert capped.count == 3


def test_random_gaps_stay_in_the_range_and_never_beat_the_throttle() -> None:
    rng = random.Random(2)
    jitter = Throttle(per_minute=60, min_delay_seconds=30, max_delay_seconds=60)
    gaps = [campaigns.gap(jitter, rng).total_seconds() for _ in range(200)]
    assert min(gaps) >= 30 and max(gaps) <= 60 and len(set(gaps)) > 100
    assert campaigns.gap(Throttle(per_minute=1, max_delay_seconds=5), rng) == timedelta(seconds=60)


def test_sending_window_in_its_zone() -> None:
    window = SendingWindow(timezone="America/Sao_Paulo", start="09:00", end="18:00", days=[1, 2, 3, 4, 5, 6])
    saturday_9 = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert campaigns.in_window(window, saturday_9)
    assert not campaigns.in_window(window, saturday_9 - timedelta(seconds=1))
    assert not campaigns.in_window(window, saturday_9 + timedelta(hours=9))  # 18:00 is outside
    assert not campaigns.in_window(window, saturday_9 + timedelta(days=1))  # Sunday
    assert campaigns.in_window(None, saturday_9)
    assert campaigns.local_day(window, datetime(2026, 3, 29, 2, tzinfo=UTC)) == "2026-03-28"
    assert [campaigns.session_for(n, ["a", "b", "c"]) for n in range(5)] == ["a", "b", "c", "a", "b"]
