"""``calanque simulate``: run the fleet simulator against a Calanque platform (click command factory)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from calanque.simulator.engine import (
    NETWORK_MODES,
    Phase,
    Simulator,
    SimulatorConfig,
    SimStats,
    network_plan,
    plan_phases,
)
from calanque.simulator.fleet import KINDS, FleetSpec
from calanque.simulator.geo import RIVERS
from calanque.simulator.messages import DEFAULT_TOPIC_PATTERN
from calanque.simulator.provision import ProvisionError
from calanque.simulator.senders import IngestPaths
from calanque.simulator.signals import FloodEvent

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_RELATIVE = re.compile(r"([+-])\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd])")


def parse_duration(text: str) -> float:
    """Seconds from "90", "90s", "15m", "2h" or "1d"; ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration: use seconds or a number with s, m, h or d (e.g. 15m)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_when(text: str, now: datetime) -> datetime:
    """An instant from ISO 8601 (a zone-less time is UTC, a bare date is midnight UTC), "now", or relative
    to now ("-7d", "+2h"); ValueError otherwise."""
    raw = text.strip()
    if raw.lower() == "now":
        return now
    match = _RELATIVE.fullmatch(raw.lower())
    if match:
        delta = timedelta(seconds=float(match.group(2)) * _UNITS[match.group(3)])
        return now + delta if match.group(1) == "+" else now - delta
    try:
        value = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO 8601 date-time (2026-11-18T00:00:00Z) nor relative "
                         "to now (-7d, +2h)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_keys(values: tuple[str, ...]) -> dict[str, str]:
    """Integration keys from ``KEY`` (every kind) or ``kind=KEY`` (chirpstack, tts, http)."""
    keys: dict[str, str] = {}
    for value in values:
        kind, sep, key = value.partition("=")
        if not sep:
            kind, key = "*", value
        if kind not in ("*", "chirpstack", "tts", "http") or not key.strip():
            raise ValueError(f"--key {value.split('=')[0]}=…: expected KEY or chirpstack=KEY, tts=KEY, http=KEY")
        keys[kind] = key.strip()
    return keys


def _summary(stats: SimStats) -> list[str]:
    """Closing lines: what was sent per kind and network, the rates and the last errors."""
    lines = [f"{stats.uplinks} uplinks produced, {stats.sent} messages delivered "
             f"({stats.duplicates} duplicates), {stats.errors} failed, {stats.dead_letters} dead-lettered "
             f"in {stats.elapsed_s:.1f} s: {stats.uplink_rate:.1f} uplinks/s, {stats.rate:.1f} messages/s achieved"]
    kinds = ", ".join(f"{k} {stats.by_kind[k]}" for k in KINDS if stats.by_kind.get(k))
    if kinds:
        lines.append(f"  delivered per kind: {kinds}")
    networks = ", ".join(f"{n} {c}" for n, c in sorted(stats.by_network.items()))
    if networks:
        lines.append(f"  delivered per network: {networks}")
    if stats.errors_by_kind:
        lines.append("  failures per kind: " + ", ".join(f"{k} {c}" for k, c in sorted(stats.errors_by_kind.items())))
    lines += [f"  ! {e}" for e in stats.last_errors[-5:]]
    return lines


def simulate_command() -> click.Command:
    """The ``simulate`` click command (mounted by the CLI as ``calanque simulate``)."""
    defaults = FleetSpec()

    @click.command("simulate", context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--target", metavar="URL", default=None,
                  help="Base URL of the Calanque platform, e.g. http://127.0.0.1:1026: where the fleet is "
                       "provisioned and where HTTP ingestion messages are posted.")
    @click.option("--mqtt", "mqtt", metavar="HOST:PORT", default=None,
                  help="MQTT broker the network servers publish to (e.g. 127.0.0.1:1883); messages go there "
                       "with QoS 1 on the ChirpStack, The Things Stack or generic topics.")
    @click.option("--network", type=click.Choice(NETWORK_MODES), default="chirpstack", show_default=True,
                  help="Message format of the LoRaWAN devices: chirpstack (ChirpStack v4 events), tts (The "
                       "Things Stack v3 uplinks), mqtt or http (generic JSON with decoded measurements), or "
                       "mixed (spread over every format the given transports allow). Water-quality probes "
                       "always push generic JSON.")
    @click.option("--transport", type=click.Choice(["auto", "mqtt", "http"]), default="auto", show_default=True,
                  help="How ChirpStack/TTS messages travel: over MQTT (their integration topics) or HTTP "
                       "(the platform's /api/v1/ingest endpoints); auto = MQTT when --mqtt is given.")
    @click.option("--key", "keys", multiple=True, metavar="[KIND=]KEY", envvar="CALANQUE_SIMULATE_KEY",
                  help="Integration key sent as X-Calanque-Key with HTTP ingestion (create one with POST "
                       "/api/v1/integrations). KEY alone serves every kind; chirpstack=KEY, tts=KEY, http=KEY "
                       "per kind. Repeatable; environment: CALANQUE_SIMULATE_KEY (space-separated).")
    @click.option("--api-key", default=None, envvar="CALANQUE_API_KEY", metavar="KEY",
                  help="Platform API key (clk_…, admin or operator role) used to provision the fleet when the "
                       "platform has authentication on; environment: CALANQUE_API_KEY.")
    @click.option("--tenant", default="", show_default=True,
                  help="NGSI-LD tenant of the fleet (empty: the default tenant).")
    @click.option("--noise", type=click.IntRange(0), default=defaults.noise, show_default=True,
                  help="Noise sensors (Milesight WS302).")
    @click.option("--containers", type=click.IntRange(0), default=defaults.containers, show_default=True,
                  help="Drop-off containers (Dragino LDDS75), in isles of glass, paper and packaging.")
    @click.option("--rivers", type=click.IntRange(0), default=defaults.river, show_default=True,
                  help="River level probes (Decentlab DL-CTD10) on the Huveaune, Jarret, Arc and Touloubre.")
    @click.option("--water-quality", type=click.IntRange(0), default=defaults.water, show_default=True,
                  help="Water-quality probes (generic JSON: temperature, pH, conductivity, turbidity, O2).")
    @click.option("--bikes", type=click.IntRange(0), default=defaults.bikes, show_default=True,
                  help="Bike counters (Milesight VS350).")
    @click.option("--pedestrians", type=click.IntRange(0), default=defaults.pedestrians, show_default=True,
                  help="Pedestrian counters (Milesight VS350).")
    @click.option("--streetlights", type=click.IntRange(0), default=defaults.streetlights, show_default=True,
                  help="Streetlight controllers; grouped, each group with a lighting cabinet (Milesight WS558).")
    @click.option("--lights-per-group", type=click.IntRange(1, 100), default=defaults.lights_per_group,
                  show_default=True, help="Streetlights per lighting group (and cabinet).")
    @click.option("--scale", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
                  help="Multiply every fleet count (river and water-quality probes are capped by the "
                       "number of river sites).")
    @click.option("--seed", type=int, default=defaults.seed, show_default=True,
                  help="Seed of the fleet and its signals: the same seed gives the same fleet and readings.")
    @click.option("--speed", type=click.FloatRange(0, min_open=True), default=None,
                  help="Run the fleet's clock this many times faster than real time: from now, or after the "
                       "--from backfill; with both --from and --to, replay that period at this pace. Without "
                       "it the run is real time.")
    @click.option("--from", "start", metavar="WHEN", default=None,
                  help="Start of the simulated time: ISO 8601 (2026-11-18T00:00:00Z) or relative (-7d). "
                       "A past start is a backfill, as fast as possible: up to --to, or up to now and then "
                       "the run continues live (real time, or --speed).")
    @click.option("--to", "end", metavar="WHEN", default=None,
                  help="End of the simulated time (ISO 8601, now, or relative, e.g. -1h); readings at or "
                       "after it are not sent.")
    @click.option("--rate", type=click.FloatRange(0, min_open=True), default=None, metavar="N",
                  help="Cap the pace at N uplinks per second (load tests); the achieved rate is reported.")
    @click.option("--duration", metavar="TIME", default=None,
                  help="Stop after this wall-clock time (90, 90s, 15m, 2h, 1d). Default: until the end of "
                       "the simulated period, or Ctrl-C for open-ended runs.")
    @click.option("--provision/--no-provision", default=None,
                  help="Upsert the fleet's entities and device records into --target before sending "
                       "(idempotent). Default: provision when --target is given.")
    @click.option("--flood-at", metavar="WHEN", default=None,
                  help="Start of a flood on the rivers (ISO 8601 or relative, e.g. +1h or -2d).")
    @click.option("--flood-river", type=click.Choice(RIVERS), multiple=True,
                  help="River(s) the flood affects (repeatable; default: all).")
    @click.option("--flood-peak", type=click.FloatRange(0, min_open=True), default=2.0, show_default=True,
                  help="Typical flood rise in metres (each site scales it: larger downstream, smaller on "
                       "the Jarret).")
    @click.option("--tts-tenant", default="ttn", show_default=True,
                  help="The Things Stack tenant id in uplink topics (v3/{app}@{tenant}/…).")
    @click.option("--topic-pattern", default=DEFAULT_TOPIC_PATTERN, show_default=True,
                  help="Generic MQTT topic; {device} is the device id, {tenant} the NGSI-LD tenant (an empty "
                       "level for the default tenant), {application} the kind's application.")
    @click.option("--chirpstack-path", default=IngestPaths.chirpstack, show_default=True,
                  help="HTTP path of the ChirpStack ingestion endpoint (?event=up|status is added).")
    @click.option("--tts-path", default=IngestPaths.tts, show_default=True,
                  help="HTTP path of The Things Stack ingestion endpoint.")
    @click.option("--http-path", default=IngestPaths.http, show_default=True,
                  help="HTTP path of the generic push endpoint.")
    @click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True,
                  help="Messages in flight at once.")
    def simulate(target: str | None, mqtt: str | None, network: str, transport: str, keys: tuple[str, ...],
                 api_key: str | None, tenant: str, noise: int, containers: int, rivers: int, water_quality: int, bikes: int,
                 pedestrians: int, streetlights: int, lights_per_group: int, scale: float, seed: int,
                 speed: float | None, start: str | None, end: str | None, rate: float | None,
                 duration: str | None, provision: bool | None, flood_at: str | None,
                 flood_river: tuple[str, ...], flood_peak: float, tts_tenant: str, topic_pattern: str,
                 chirpstack_path: str, tts_path: str, http_path: str, concurrency: int) -> None:
        """Simulate the Smart Métropole sensor fleet and send its uplinks to Calanque.

        Noise sensors, drop-off container fill levels, river levels and water quality, bike and
        pedestrian counters, and streetlights with their cabinets, placed across the communes of
        Aix-Marseille-Provence, report realistic daily patterns as ChirpStack, The Things Stack or
        generic MQTT/HTTP messages. Examples:

        \b
          calanque simulate --target http://127.0.0.1:1026 --network http --key KEY
          calanque simulate --mqtt 127.0.0.1:1883 --target http://127.0.0.1:1026 --network mixed --key KEY
          calanque simulate --target http://127.0.0.1:1026 --network http --key KEY --from -7d --to now
          calanque simulate --mqtt 127.0.0.1:1883 --no-provision --streetlights 5000 --rate 500 --duration 5m
        """
        console = Console(stderr=True, soft_wrap=True)
        now = datetime.now(UTC)
        try:
            start_at = parse_when(start, now) if start else None
            end_at = parse_when(end, now) if end else None
            floods = (FloodEvent(parse_when(flood_at, now), peak_m=flood_peak, rivers=flood_river),) if flood_at else ()
            wall = parse_duration(duration) if duration else None
            key_map = parse_keys(keys)
            lorawan, generic = network_plan(network, http=target is not None, mqtt=mqtt is not None,  # type: ignore[arg-type]
                                            transport=transport)  # type: ignore[arg-type]
            spec = FleetSpec(noise=noise, containers=containers, river=rivers, water=water_quality, bikes=bikes,
                             pedestrians=pedestrians, streetlights=streetlights, lights_per_group=lights_per_group,
                             seed=seed, lorawan_networks=lorawan, generic_networks=generic)
            if scale != 1.0:
                spec = spec.scaled(scale)
            sim = Simulator(SimulatorConfig(
                fleet=spec, target=target, mqtt=mqtt, transport=transport, tenant=tenant,  # type: ignore[arg-type]
                keys=key_map, start=start_at, end=end_at, speed=speed, rate=rate, duration=wall, floods=floods,
                tts_tenant=tts_tenant, topic_pattern=topic_pattern,
                paths=IngestPaths(chirpstack_path, tts_path, http_path), concurrency=concurrency,
                api_key=api_key,
            ))
        except ValueError as err:
            raise click.UsageError(str(err)) from err
        describe_run(console, sim, target, mqtt)
        if provision is None:
            provision = target is not None
        if provision:
            provision_fleet(console, sim)
        stats = run_with_progress(console, sim)
        for line in _summary(stats):
            console.print(line, markup=False, highlight=False)
        if stats.fatal:
            raise click.ClickException(stats.fatal)
        if stats.errors or stats.dead_letters:
            raise click.ClickException(f"{stats.errors} messages failed and {stats.dead_letters} were dead-lettered "
                                       "by the platform (see the lines above)")

    return simulate


def describe_run(console: Console, sim: Simulator, target: str | None, mqtt: str | None) -> None:
    """Print the fleet, where its messages go and the time plan."""
    counts = sim.fleet.counts()
    console.print("Fleet (seed %d): %s" % (sim.config.fleet.seed,
                                           ", ".join(f"{n} {k}" for k, n in counts.items() if n)),
                  highlight=False)
    console.print(f"  container isles: {len(sim.fleet.isles)}, lighting groups: {len(sim.fleet.groups)}, "
                  f"communes: {len({d.commune.insee for d in sim.fleet.devices})}", highlight=False)
    by_net: dict[str, int] = {}
    for d in sim.fleet.devices:
        by_net[d.network] = by_net.get(d.network, 0) + 1
    routes = ", ".join(f"{n} ({c} devices) over {sim.route(n)}" for n, c in sorted(by_net.items()))
    console.print(f"Networks: {routes}", highlight=False)
    console.print(f"Targets: HTTP {target or '-'}, MQTT {mqtt or '-'}; tenant '{sim.config.tenant}'", highlight=False)
    cfg = sim.config
    plan = ", then ".join(_phase_text(p) for p in plan_phases(cfg.start, cfg.end, cfg.speed, datetime.now(UTC)))
    if cfg.rate:
        plan += f", at most {cfg.rate:g} uplinks/s"
    if cfg.duration:
        plan += f", for {cfg.duration:g} s"
    console.print(f"Time: {plan}", highlight=False)
    for flood in cfg.floods:
        console.print(f"Flood: from {flood.start.isoformat(timespec='minutes')} on "
                      f"{', '.join(flood.rivers) or 'every river'}, +{flood.peak_m:g} m", highlight=False)


def _phase_text(phase: Phase) -> str:
    """One phase of the time plan in words."""
    start = phase.start.isoformat(timespec="seconds")
    until = f" until {phase.end.isoformat(timespec='seconds')}" if phase.end else ""
    if phase.speed is None:
        return f"backfill from {start} to {phase.end.isoformat(timespec='seconds') if phase.end else 'now'}"
    if phase.wall_clock:
        return f"real time{until}"
    return f"simulated clock ×{phase.speed:g} from {start}{until}"


def provision_fleet(console: Console, sim: Simulator) -> None:
    """Provision the fleet with a progress bar; ClickException on failure."""
    total_entities = len(sim.fleet.devices) + len(sim.fleet.isles) + len(sim.fleet.groups) + len(
        sim.fleet.container_models()) + len(sim.fleet.light_models())
    with Progress(console=console, transient=True) as bar:
        entities = bar.add_task("provisioning entities", total=total_entities)
        devices = bar.add_task("registering devices", total=len(sim.fleet.devices))
        try:
            report = sim.provision(lambda step, n: bar.advance(entities if step == "entities" else devices, n))
        except ProvisionError as err:
            raise click.ClickException(str(err)) from err
    console.print(f"Provisioned {report.entities} entities ({report.entities_created} new), devices: "
                  f"{report.devices_created} registered, {report.devices_updated} updated", highlight=False)
    for error in report.errors[:20]:
        console.print(f"  ! {error}", markup=False, highlight=False)
    if report.errors:
        raise click.ClickException(f"the platform refused {len(report.errors)} entities or devices")


def run_with_progress(console: Console, sim: Simulator) -> SimStats:
    """Run in a background thread, drawing progress until it ends or Ctrl-C stops it."""
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.fields[total_text]}"),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("starting", total=None, total_text="?", info="")
        sim.start()
        try:
            while sim.running:
                _draw(bar, task, sim.stats())
                time.sleep(0.2)
        except KeyboardInterrupt:
            console.print("stopping…")
        stats = sim.stop(timeout=5.0)  # in-flight sends get 5 s; Ctrl-C must not hang
        _draw(bar, task, stats)
    if stats.fatal and not stats.sent and not stats.uplinks:
        raise click.ClickException(stats.fatal)
    return stats


def _draw(bar: Progress, task: TaskID, stats: SimStats) -> None:
    """Update the progress line from the stats."""
    when = stats.sim_time.isoformat(timespec="seconds") if stats.sim_time else "-"
    info = (f"sent {stats.sent} ({stats.rate:.0f}/s), failed {stats.errors}, dead letters {stats.dead_letters}, "
            f"simulated time {when}")
    total = stats.phase_total
    bar.update(task, description=stats.phase, total=total, completed=stats.phase_done if total is not None else stats.uplinks,
               total_text=str(total) if total is not None else "∞", info=info)

