"""The AsyncAPI document of the NATS contract: generated from the message models, complete, and
the copy in docs/ is the one the code generates (regenerate with ``make asyncapi``)."""

import json
from pathlib import Path

from zapgate.common.contract import commands, events
from zapgate.gateway.contract import asyncapi

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_every_command_and_event_has_its_subject_and_its_models_schema() -> None:
    document = asyncapi()
    assert document["asyncapi"] == "3.0.0"
    addresses = {c["address"]: c for c in document["channels"].values()}
    for model in commands():
        verb = model.model_fields["verb"].default
        channel = addresses[f"zg.cmd.{{partition}}.{{tenant}}.{{session}}.{verb}"]
        assert set(channel["parameters"]) == {"partition", "tenant", "session"}
    for model in events():
        kind = model.model_fields["type"].default
        assert f"zg.evt.{{tenant}}.{{session}}.{kind}" in addresses
    for model in [*commands(), *events()]:
        schema = document["components"]["schemas"][model.__name__]
        expected = model.model_json_schema()
        assert set(schema["properties"]) == set(expected["properties"]), model.__name__
        assert sorted(schema.get("required", [])) == sorted(expected.get("required", [])), model.__name__
    assert len(commands()) >= 11 and len(events()) >= 6
    # The ingress: how another service sends and runs lifecycle commands, with the REST bodies.
    for verb in ("send", "start", "stop", "restart", "logout"):
        channel = addresses[f"zg.in.{{tenant}}.{{session}}.{verb}"]
        assert set(channel["parameters"]) == {"tenant", "session"}
    send = document["components"]["schemas"]["IngressSend"]
    assert set(send["properties"]) == {"id", "message"} and send["required"] == ["message"]


def test_the_committed_document_is_the_generated_one() -> None:
    assert json.loads(DOC.read_text()) == asyncapi(), "docs/asyncapi.json is stale: run make asyncapi"
