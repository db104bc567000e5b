"""The NATS topology of the design, against a real nats-server."""

import nats
import pytest
from nats.js import api

from zapgate.common import broker, subjects
from zapgate.common.settings import CommonSettings


async def test_topology_is_created_with_the_designed_settings(clean_nats: str) -> None:
    settings = CommonSettings(nats_url=clean_nats, lease_ttl=10)
    nc = await broker.connect(settings, "test")
    try:
        js = nc.jetstream()
        await broker.ensure_topology(js, settings)
        commands = (await js.stream_info(subjects.COMMANDS_STREAM)).config
        assert commands.subjects == ["zg.cmd.>"]
        assert commands.retention == api.RetentionPolicy.WORK_QUEUE
        assert commands.duplicate_window == 120
        events = (await js.stream_info(subjects.EVENTS_STREAM)).config
        assert events.subjects == ["zg.evt.>"]
        assert events.retention == api.RetentionPolicy.LIMITS
        assert (await js.stream_info(subjects.DLQ_STREAM)).config.subjects == ["zg.dlq.>"]
        leases = (await js.stream_info("KV_zg_leases")).config
        assert leases.max_age == 10
        assert leases.max_msgs_per_subject == 1
        assert leases.subject_delete_marker_ttl == 10
        assert (await js.stream_info("KV_zg_workers")).config.max_age == 10
        assert (await js.stream_info("OBJ_zg_media")).config.name == "OBJ_zg_media"
    finally:
        await nc.close()


async def test_topology_is_idempotent_and_follows_a_new_lease_ttl(clean_nats: str) -> None:
    nc = await nats.connect(clean_nats)
    try:
        js = nc.jetstream()
        await broker.ensure_topology(js, CommonSettings(nats_url=clean_nats, lease_ttl=10))
        await broker.ensure_topology(js, CommonSettings(nats_url=clean_nats, lease_ttl=10))
        await broker.ensure_topology(js, CommonSettings(nats_url=clean_nats, lease_ttl=3))
        leases = (await js.stream_info("KV_zg_leases")).config
        assert leases.max_age == 3
        assert leases.subject_delete_marker_ttl == 3
        names = sorted([s.config.name for s in await js.streams_info()])
        assert names == sorted(
            ["ZG_COMMANDS", "ZG_EVENTS", "ZG_DLQ", "KV_zg_leases", "KV_zg_workers", "OBJ_zg_media"]
        )
    finally:
        await nc.close()


async def test_commands_are_deduplicated_by_message_id(clean_nats: str) -> None:
    nc = await nats.connect(clean_nats)
    try:
        js = nc.jetstream()
        await broker.ensure_topology(js, CommonSettings(nats_url=clean_nats))
        subject = subjects.command(3, "T1", "main", "start")
        first = await js.publish(subject, b"{}", headers={"Nats-Msg-Id": "cmd-1"})
        again = await js.publish(subject, b"{}", headers={"Nats-Msg-Id": "cmd-1"})
        assert not first.duplicate
        assert again.duplicate
        assert (await js.stream_info(subjects.COMMANDS_STREAM)).state.messages == 1
    finally:
        await nc.close()


async def test_every_shared_store_is_bounded_and_follows_new_limits(clean_nats: str) -> None:
    # Before, ZG_EVENTS and zg_media had no size limit: one tenant could fill the disk of all.
    nc = await nats.connect(clean_nats)
    try:
        js = nc.jetstream()
        settings = CommonSettings(
            nats_url=clean_nats, events_max_bytes=64 << 20, commands_max_bytes=16 << 20, dlq_max_bytes=8 << 20,
            media_store_max_bytes=32 << 20, media_max_age=3600, events_max_age=7200,
        )  # fmt: skip
        await broker.ensure_topology(js, settings)
        events = (await js.stream_info(subjects.EVENTS_STREAM)).config
        assert (events.max_bytes, events.max_age, events.discard) == (64 << 20, 7200, api.DiscardPolicy.OLD)
        commands = (await js.stream_info(subjects.COMMANDS_STREAM)).config
        # A full command queue refuses new commands (the publisher answers 503) and drops none.
        assert (commands.max_bytes, commands.discard) == (16 << 20, api.DiscardPolicy.NEW)
        assert (await js.stream_info(subjects.DLQ_STREAM)).config.max_bytes == 8 << 20
        media = (await js.stream_info("OBJ_zg_media")).config
        assert (media.max_bytes, media.max_age) == (32 << 20, 3600)
        # New limits are applied in place, the stored media kept.
        store = await js.object_store(subjects.MEDIA_BUCKET)
        await store.put("T1/kept", b"bytes")
        await broker.ensure_topology(js, settings.model_copy(update={"media_store_max_bytes": 48 << 20}))
        assert (await js.stream_info("OBJ_zg_media")).config.max_bytes == 48 << 20
        assert (await store.get("T1/kept")).data == b"bytes"
    finally:
        await nc.close()


async def test_limits_the_disk_cannot_hold_are_refused_with_the_settings_to_change(clean_nats: str) -> None:
    nc = await nats.connect(clean_nats)
    try:
        with pytest.raises(broker.StorageTooSmall, match="ZAPGATE_EVENTS_MAX_BYTES"):
            await broker.ensure_topology(
                nc.jetstream(), CommonSettings(nats_url=clean_nats, events_max_bytes=1 << 60)
            )
    finally:
        await nc.close()
