"""The shared-table MQTT v5 properties behave exactly like paho's own."""

from __future__ import annotations

import pytest
from paho.mqtt import _packet as paho_packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import MQTTException, Properties

from calanque.pipeline.paho_speedups import SharedTableProperties, install


def _publish_props(cls: type[Properties]) -> Properties:
    props = cls(PacketTypes.PUBLISH)
    props.ContentType = "application/json"
    props.UserProperty = ("tenant", "marseille")
    props.UserProperty = ("site", "vieux-port")
    props.MessageExpiryInterval = 3600
    return props


def test_packs_and_unpacks_like_paho() -> None:
    packed = _publish_props(Properties).pack()
    assert _publish_props(SharedTableProperties).pack() == packed
    ours, theirs = SharedTableProperties(PacketTypes.PUBLISH), Properties(PacketTypes.PUBLISH)
    assert ours.unpack(packed)[1] == theirs.unpack(packed)[1] == len(packed)
    assert ours.json() == theirs.json()
    assert ours.UserProperty == [("tenant", "marseille"), ("site", "vieux-port")]


def test_instances_do_not_share_values() -> None:
    first, second = SharedTableProperties(PacketTypes.PUBLISH), SharedTableProperties(PacketTypes.PUBLISH)
    first.ContentType = "text/plain"
    assert not hasattr(second, "ContentType")
    assert second.pack() == Properties(PacketTypes.PUBLISH).pack()


def test_keeps_paho_checks() -> None:
    props = SharedTableProperties(PacketTypes.PUBLISH)
    with pytest.raises(MQTTException):
        props.ReceiveMaximum = 10  # a CONNECT property, not a PUBLISH one
    with pytest.raises(MQTTException):
        props.NoSuchProperty = 1


def test_install_is_idempotent_and_used_by_the_decoder() -> None:
    assert install() and install()
    assert paho_packet.Properties is SharedTableProperties
