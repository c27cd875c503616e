"""The `simulate` command: its help explains every option, bad input is a usage error, and a backfill
run provisions the fleet and delivers its uplinks to the live server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import CliRunner

from calanque.simulator.cli import parse_duration, parse_keys, parse_when, simulate_command
from tests.simulator.helpers import integration_key

SMALL = ["--noise", "2", "--containers", "3", "--rivers", "1", "--water-quality", "1", "--bikes", "1",
         "--pedestrians", "1", "--streetlights", "4", "--lights-per-group", "2"]


def test_help_explains_every_option() -> None:
    command = simulate_command()
    assert command.name == "simulate"
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    for option in ("--target", "--mqtt", "--network", "chirpstack|tts|mqtt|http|mixed", "--seed", "--speed", "--from",
                   "--to", "--rate", "--duration", "--provision / --no-provision", "--key", "--noise", "--containers",
                   "--rivers", "--water-quality", "--bikes", "--pedestrians", "--streetlights", "--tenant",
                   "--flood-at", "--topic-pattern", "--chirpstack-path", "--tts-path", "--http-path"):
        assert option in result.output, option
    for param in command.params:
        assert param.help, param.name  # type: ignore[attr-defined]


def test_parsers() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_when("-7d", now) == now - timedelta(days=7)
    assert parse_when("+90m", now) == now + timedelta(minutes=90)
    assert parse_when("now", now) == now
    assert parse_when("2026-11-18", now) == datetime(2026, 11, 18, tzinfo=UTC)
    assert parse_when("2026-11-18T10:00:00+01:00", now) == datetime(2026, 11, 18, 9, tzinfo=UTC)
    assert parse_when("2026-11-18T10:00:00Z", now) == datetime(2026, 11, 18, 10, tzinfo=UTC)
    assert [parse_duration(x) for x in ("90", "90s", "15m", "2h", "1d", "1.5h")] == [90, 90, 900, 7200, 86400, 5400]
    assert parse_keys(("k1",)) == {"*": "k1"}
    assert parse_keys(("chirpstack=k1", "http=k2")) == {"chirpstack": "k1", "http": "k2"}
    for bad, call in (("yesterday", lambda: parse_when("yesterday", now)), ("0m", lambda: parse_duration("0m")),
                      ("lora=k", lambda: parse_keys(("lora=k",)))):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize(("args", "message"), [
    ([], "nowhere to send"),
    (["--mqtt", "127.0.0.1:1883", "--network", "http"], "network http needs the Calanque URL"),
    (["--target", "http://127.0.0.1:1"], "needs an integration key of kind chirpstack"),
    (["--mqtt", "127.0.0.1:1883", "--from", "last week"], "is neither an ISO 8601 date-time"),
    (["--mqtt", "127.0.0.1:1883", "--network", "mqtt", "--from", "-1h", "--to", "-2h"], "must be before"),
    (["--mqtt", "127.0.0.1:1883", "--network", "mqtt", "--rivers", "40"], "at most 17"),
    (["--mqtt", "127.0.0.1:1883", "--network", "mqtt", "--duration", "soon"], "is not a duration"),
])
def test_bad_input_is_a_usage_error(args: list[str], message: str) -> None:
    result = CliRunner().invoke(simulate_command(), args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_backfill_run_against_the_live_server(root: httpx.Client) -> None:
    key = integration_key(root, "http")
    result = CliRunner().invoke(simulate_command(), [
        "--target", str(root.base_url), "--network", "http", "--key", key, "--from", "-2h", "--to", "-1h",
        "--seed", "8", *SMALL,
    ])
    assert result.exit_code == 0, result.output
    assert "Provisioned" in result.output and "15 registered" in result.output
    assert "0 failed, 0 dead-lettered" in result.output
    assert "delivered per kind: noise 12," in result.output  # two sensors, every 10 minutes for an hour
    listed = root.get("/api/v1/devices", params={"limit": 100}).json()
    assert listed["total"] == 15 and all(d["lastSeen"] for d in listed["items"])


def test_unreachable_target_is_reported(root: httpx.Client) -> None:
    result = CliRunner().invoke(simulate_command(), ["--target", "http://127.0.0.1:9", "--network", "http", "--key",
                                                     "k", "--from", "-2h", "--to", "-1h", *SMALL])
    assert result.exit_code == 1
    assert "cannot reach Calanque at http://127.0.0.1:9" in result.output
