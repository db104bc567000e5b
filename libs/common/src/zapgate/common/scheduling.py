"""The scheduler's contracts: REST bodies (served by the gateway) and what the scheduler answers.

One schema language: the gateway's routes take and return these models, forwards them over
NATS request/reply (``zapgate.common.rpc``), and the scheduler validates them again as its own
input. A message body here is what ``POST /api/v1/sessions/{name}/messages`` takes, without
``to``; the gateway checks its shape, the scheduler its ``{{placeholders}}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from zapgate.common.bodies import In, Out
from zapgate.common.messages import SESSION_NAME_PATTERN

VARIABLE_PATTERN = r"^[a-z_][a-z0-9_]{0,63}$"
Variable = Annotated[str, StringConstraints(pattern=VARIABLE_PATTERN)]
Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_:.-]{1,64}$")]
FieldValue = Annotated[str, StringConstraints(max_length=1024)]
MAX_FIELDS = 50


# ---------------------------------------------------------------- contacts


class ContactIn(In):
    """A member of a contact list."""

    phone: str = Field(min_length=1, max_length=64, description="Any human format: +55 (11) 99999-9999")
    name: str | None = Field(None, max_length=256)
    fields: dict[Variable, FieldValue] = Field(
        default_factory=dict, max_length=MAX_FIELDS, description="Values for {{placeholders}}"
    )
    tags: list[Tag] = Field(default_factory=list, max_length=50)


class ContactsAdd(In):
    """Members to add (or update, by phone) in one call."""

    contacts: list[ContactIn] = Field(min_length=1, max_length=10_000)


class ContactListCreate(In):
    """A new contact list."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)


class ContactListView(Out):
    """A contact list."""

    id: str
    name: str
    description: str | None
    contacts: int
    created_at: datetime


class MemberView(Out):
    """A member, its phone normalised to a chat id."""

    chat: str
    phone: str
    name: str | None
    fields: dict[str, str]
    tags: list[str]
    added_at: datetime


class MemberPage(Out):
    """Members in phone order; ``next`` is the ``after`` of the next page."""

    items: list[MemberView]
    next: str | None


class Rejected(Out):
    """An input line (CSV, from 2 after the header) or item (from 0) that was not taken, and why."""

    line: int
    phone: str | None
    reason: str


class ImportReport(Out):
    """What an add or a CSV import did."""

    added: int
    updated: int
    rejected: list[Rejected]


# ---------------------------------------------------------------- opt-out


class SuppressionAdd(In):
    """A number that no schedule or campaign may message."""

    phone: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(None, max_length=500)


class SuppressionView(Out):
    """A suppressed number."""

    chat: str
    source: Literal["manual", "keyword"]
    reason: str | None
    created_at: datetime


class OptOutKeywords(In):
    """Inbound messages that are exactly one of these (case and accents ignored) opt the sender out."""

    keywords: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(max_length=50)


# ---------------------------------------------------------------- templates


class TemplateCreate(In):
    """A reusable message with ``{{placeholders}}`` and ``{a|b|c}`` variations."""

    name: str = Field(min_length=1, max_length=200)
    message: dict[str, Any] = Field(
        description="A message body as POST /api/v1/sessions/{name}/messages takes, without `to`"
    )
    defaults: dict[Variable, FieldValue] = Field(default_factory=dict, max_length=MAX_FIELDS)


class TemplateView(Out):
    """A template; ``variables`` are the placeholders it uses."""

    id: str
    name: str
    message: dict[str, Any]
    defaults: dict[str, str]
    variables: list[str]
    created_at: datetime


class PreviewRequest(In):
    """Render a template for one contact (a list member, or fields given here)."""

    list_id: str | None = Field(None, max_length=26)
    phone: str | None = Field(None, max_length=64)
    fields: dict[Variable, FieldValue] = Field(default_factory=dict, max_length=MAX_FIELDS)
    variables: dict[Variable, FieldValue] = Field(default_factory=dict, max_length=MAX_FIELDS)


class PreviewView(Out):
    """The message as that contact would receive it."""

    message: dict[str, Any]


# ---------------------------------------------------------------- schedules

ScheduleKind = Literal["once", "cron", "interval"]
ScheduleState = Literal["active", "paused", "completed"]
MIN_INTERVAL = 60


class ScheduleTiming(In):
    """When a schedule fires: exactly one of ``send_at``, ``cron`` and ``interval_seconds``."""

    send_at: datetime | None = Field(None, description="One-off: RFC 3339 with an offset")
    cron: str | None = Field(
        None, max_length=200, description="Recurring: 5-field cron (minute hour day month weekday)"
    )
    interval_seconds: int | None = Field(None, ge=MIN_INTERVAL, le=366 * 86400)
    timezone: str = Field("UTC", max_length=64, description="IANA zone the cron is read in")
    start_at: datetime | None = None
    end_at: datetime | None = None
    max_count: int | None = Field(None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _one_timing(self) -> ScheduleTiming:
        given = [f for f in ("send_at", "cron", "interval_seconds") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of send_at, cron and interval_seconds")
        for name in ("send_at", "start_at", "end_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs an offset, e.g. 2026-01-01T09:00:00-03:00")
        return self


class ScheduleCreate(ScheduleTiming):
    """A one-off or recurring message to one chat or to a contact list."""

    name: str | None = Field(None, max_length=200)
    session: str = Field(pattern=SESSION_NAME_PATTERN, description="The session that sends")
    to: str | None = Field(None, max_length=128, description="A phone or chat id (or use list_id)")
    list_id: str | None = Field(None, max_length=26)
    tags: list[Tag] | None = Field(None, max_length=20, description="Only list members with any of these")
    message: dict[str, Any] | None = Field(None, description="A message body without `to` (or template_id)")
    template_id: str | None = Field(None, max_length=26)
    variables: dict[Variable, FieldValue] = Field(default_factory=dict, max_length=MAX_FIELDS)
    catchup_seconds: int | None = Field(
        None, ge=0, le=7 * 86400, description="A fire missed by more than this is skipped (default: settings)"
    )

    @model_validator(mode="after")
    def _one_target(self) -> ScheduleCreate:
        if (self.to is None) == (self.list_id is None):
            raise ValueError("give exactly one of to and list_id")
        if (self.message is None) == (self.template_id is None):
            raise ValueError("give exactly one of message and template_id")
        return self


class ScheduleUpdate(In):
    """Change a schedule: the fields given replace the stored ones, and the whole is checked again
    as on creation. Changing the timing computes the next fire from now."""

    name: str | None = Field(None, max_length=200)
    send_at: datetime | None = None
    cron: str | None = Field(None, max_length=200)
    interval_seconds: int | None = Field(None, ge=MIN_INTERVAL, le=366 * 86400)
    timezone: str | None = Field(None, max_length=64)
    start_at: datetime | None = None
    end_at: datetime | None = None
    max_count: int | None = Field(None, ge=1, le=1_000_000)
    message: dict[str, Any] | None = None
    template_id: str | None = Field(None, max_length=26)
    variables: dict[Variable, FieldValue] | None = Field(None, max_length=MAX_FIELDS)
    catchup_seconds: int | None = Field(None, ge=0, le=7 * 86400)


class ScheduleView(Out):
    """A schedule and where it stands."""

    id: str
    name: str | None
    session: str
    kind: ScheduleKind
    state: ScheduleState
    send_at: datetime | None
    cron: str | None
    interval_seconds: int | None
    timezone: str
    start_at: datetime | None
    end_at: datetime | None
    max_count: int | None
    fired: int
    next_fire_at: datetime | None
    to: str | None
    list_id: str | None
    tags: list[str] | None
    message: dict[str, Any] | None
    template_id: str | None
    variables: dict[str, str]
    catchup_seconds: int
    created_at: datetime
    updated_at: datetime


class NextFires(Out):
    """The next fire times, UTC and in the schedule's zone."""

    times: list[datetime]
    local: list[str]


FireOutcome = Literal["fired", "missed"]


class FireMessage(Out):
    """One recipient of a fire: the message it produced and that message's status, or the skip."""

    to: str
    status: str
    message_id: str | None
    reason: str | None


class FireView(Out):
    """One fire of a schedule at its nominal time."""

    nominal_at: datetime
    fired_at: datetime
    outcome: FireOutcome
    late_seconds: float
    reason: str | None = Field(None, description="Why a missed fire was not sent")
    messages: list[FireMessage]


class FirePage(Out):
    """Fires, newest first."""

    items: list[FireView]


class SchedulePage(Out):
    """Schedules, newest first."""

    items: list[ScheduleView]


class ContactListPage(Out):
    """The tenant's contact lists, newest first."""

    items: list[ContactListView]


class SuppressionPage(Out):
    """The tenant's suppressed numbers, newest first."""

    items: list[SuppressionView]


class Suppressed(Out):
    """A number now suppressed, normalised."""

    chat: str
    suppressed: bool


class TemplatePage(Out):
    """The tenant's templates, newest first."""

    items: list[TemplateView]


# ---------------------------------------------------------------- campaigns

CampaignState = Literal["draft", "scheduled", "running", "paused", "completed", "cancelled"]
CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class SendingWindow(In):
    """When a campaign may send: between ``start`` and ``end`` (local time) on ``days``."""

    timezone: str = Field("UTC", max_length=64, description="IANA zone, e.g. America/Sao_Paulo")
    start: str = Field("09:00", pattern=CLOCK_PATTERN)
    end: str = Field("18:00", pattern=CLOCK_PATTERN)
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6],
        min_length=1,
        max_length=7,
        description="1 = Monday … 7 = Sunday",
    )

    @model_validator(mode="after")
    def _ordered(self) -> SendingWindow:
        if self.end <= self.start:
            raise ValueError("the window's end must be after its start (same day)")
        return self


class Throttle(In):
    """How fast each of the campaign's sessions sends."""

    per_minute: float = Field(
        10, gt=0, le=6000, description="At most this many messages per minute per session"
    )
    min_delay_seconds: float = Field(
        0, ge=0, le=3600, description="A random gap of at least this between sends"
    )
    max_delay_seconds: float = Field(0, ge=0, le=3600)
    daily_cap: int | None = Field(None, ge=1, le=1_000_000, description="Per session and local day")

    @model_validator(mode="after")
    def _range(self) -> Throttle:
        if self.max_delay_seconds < self.min_delay_seconds:
            raise ValueError("max_delay_seconds must be at least min_delay_seconds")
        return self


class CampaignCreate(In):
    """A template or message to a contact list, through one or several sessions."""

    name: str = Field(min_length=1, max_length=200)
    list_id: str = Field(max_length=26)
    tags: list[Tag] | None = Field(None, max_length=20, description="Only members with any of these")
    message: dict[str, Any] | None = Field(None, description="A message body without `to` (or template_id)")
    template_id: str | None = Field(None, max_length=26)
    variables: dict[Variable, FieldValue] = Field(default_factory=dict, max_length=MAX_FIELDS)
    sessions: list[Annotated[str, StringConstraints(pattern=SESSION_NAME_PATTERN)]] = Field(
        min_length=1, max_length=20, description="Recipients are spread over these sessions in turn"
    )
    start_at: datetime | None = Field(None, description="Start then (when started); now if not given")
    throttle: Throttle = Field(default_factory=Throttle)
    window: SendingWindow | None = Field(None, description="Send only inside this window (default: any time)")

    @model_validator(mode="after")
    def _one_body(self) -> CampaignCreate:
        if (self.message is None) == (self.template_id is None):
            raise ValueError("give exactly one of message and template_id")
        if self.start_at is not None and self.start_at.tzinfo is None:
            raise ValueError("start_at needs an offset")
        if len(set(self.sessions)) != len(self.sessions):
            raise ValueError("a session is named twice")
        return self


class CampaignProgress(Out):
    """Recipients by status; ``skipped`` by reason too; ``replies``: recipients who answered."""

    total: int
    pending: int
    queued: int
    sent: int
    delivered: int
    read: int
    failed: int
    skipped: int
    skipped_reasons: dict[str, int]
    replies: int


class CampaignView(Out):
    """A campaign and where it stands."""

    id: str
    name: str
    state: CampaignState
    reason: str | None = Field(description="Why it is paused (a quota reached, a session gone) or cancelled")
    list_id: str
    tags: list[str] | None
    message: dict[str, Any] | None
    template_id: str | None
    variables: dict[str, str]
    sessions: list[str]
    start_at: datetime | None
    throttle: Throttle
    window: SendingWindow | None
    progress: CampaignProgress
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class CampaignPage(Out):
    """Campaigns, newest first."""

    items: list[CampaignView]


class Recipient(Out):
    """One recipient of a campaign."""

    to: str
    session: str
    status: str
    reason: str | None
    message_id: str | None
    replied: bool
    updated_at: datetime


class RecipientPage(Out):
    """Recipients in list order; ``next`` is the ``after`` of the next page."""

    items: list[Recipient]
    next: int | None
