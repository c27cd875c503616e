"""The simulation engine: when each device reports, what it sends, and delivering it at the right pace.

Time. Device ``d`` reports at slot ``k`` (k = 0, 1, …, which is also its frame counter) at
``installed_at + phase + k × period + jitter(k)`` (jitter < min(20 s, 5 % of the period), fixed
per slot), so the same instant always carries the same reading. A run is a list of phases:

* live (no ``speed``, or 1): readings go out when the wall clock reaches their time;
* accelerated (``speed`` = F): a simulated clock runs F times faster than the wall clock and
  readings go out when it reaches their time — from now, or from ``start`` when it is in the
  future, or over [``start``, ``end``) when both are given (a replay of that period at that pace);
* backfill (``start`` in the past): every reading from ``start`` goes out as fast as possible,
  with its past observed time, up to ``end``, or, without ``end``, up to now, after which the run
  continues live (in real time, or accelerated when ``speed`` is given).

``rate`` caps the uplinks per second in every mode (for load tests); ``duration`` stops the run
after that many wall-clock seconds. :class:`Simulator` runs blocking (:meth:`Simulator.run`), as
an asyncio task (:meth:`Simulator.run_async`) or in a background thread (:meth:`Simulator.start`
/ :meth:`Simulator.stop`), and reports :class:`SimStats` as it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from calanque.field.codecs import CodecError
from calanque.simulator import _rand as rnd
from calanque.simulator.encoders import encode_reading
from calanque.simulator.fleet import GENERIC_NETWORKS, Fleet, FleetSpec, Network, SimDevice, build_fleet
from calanque.simulator.messages import DEFAULT_TOPIC_PATTERN, Frame, Message, MessageOptions, build_messages
from calanque.simulator.provision import ProvisionReport, provision
from calanque.simulator.senders import (
    DeadLettered,
    HttpSender,
    IngestPaths,
    MqttSender,
    SendError,
    parse_mqtt_address,
)
from calanque.simulator.signals import FloodEvent, Scenario, battery_level, reading

NetworkMode = Literal["chirpstack", "tts", "mqtt", "http", "mixed"]
NETWORK_MODES: tuple[NetworkMode, ...] = ("chirpstack", "tts", "mqtt", "http", "mixed")
Transport = Literal["auto", "mqtt", "http"]
MAX_JITTER_S = 20.0
_LAST_ERRORS = 10


class SimulationError(Exception):
    """The run could not start or had to stop (unreachable target, too many failures…)."""


def resolve_transport(transport: Transport, *, http: bool, mqtt: bool) -> Literal["mqtt", "http"]:
    """How ChirpStack and TTS messages travel: ``auto`` means MQTT when a broker is given, else HTTP."""
    if transport == "auto":
        if not (http or mqtt):
            raise ValueError("nowhere to send: give a Calanque URL (HTTP ingestion) or an MQTT broker")
        return "mqtt" if mqtt else "http"
    if transport == "mqtt" and not mqtt:
        raise ValueError("transport mqtt needs an MQTT broker address")
    if transport == "http" and not http:
        raise ValueError("transport http needs the Calanque URL")
    return transport


def network_plan(mode: NetworkMode, *, http: bool, mqtt: bool,
                 transport: Transport = "auto") -> tuple[tuple[Network, ...], tuple[Network, ...]]:
    """(networks of the LoRaWAN devices, networks of the JSON probes) for a network mode.

    ``chirpstack``/``tts``: every LoRaWAN device on that network server, probes on the generic
    transport the LoRaWAN messages use; ``mqtt``/``http``: every device pushes generic JSON;
    ``mixed``: LoRaWAN devices spread over ChirpStack, TTS and the available generic networks,
    probes over the available generic networks. ValueError when a transport is missing.
    """
    if mode not in NETWORK_MODES:
        raise ValueError(f"unknown network mode {mode!r}: expected one of {', '.join(NETWORK_MODES)}")
    available: tuple[Network, ...] = tuple(n for n, ok in (("mqtt", mqtt), ("http", http)) if ok)
    if not available:
        raise ValueError("nowhere to send: give a Calanque URL (HTTP ingestion) or an MQTT broker")
    if mode in ("chirpstack", "tts"):
        return (mode,), (resolve_transport(transport, http=http, mqtt=mqtt),)
    if mode in ("mqtt", "http"):
        if mode not in available:
            raise ValueError(f"network {mode} needs {'an MQTT broker' if mode == 'mqtt' else 'the Calanque URL'}")
        return (mode,), (mode,)
    resolve_transport(transport, http=http, mqtt=mqtt)
    return ("chirpstack", "tts", *available), available


@dataclass
class SimulatorConfig:
    """Everything a run needs. ``target`` is the Calanque base URL (provisioning and HTTP ingestion),
    ``mqtt`` the broker (host:port); ``keys`` the integration keys by kind (chirpstack, tts, http,
    or ``"*"`` for all). Times are aware datetimes; see the module docstring for the modes."""

    fleet: FleetSpec = field(default_factory=FleetSpec)
    target: str | None = None
    mqtt: str | None = None
    transport: Transport = "auto"
    tenant: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    speed: float | None = None
    rate: float | None = None
    duration: float | None = None
    floods: tuple[FloodEvent, ...] = ()
    tts_tenant: str = "ttn"
    topic_pattern: str = DEFAULT_TOPIC_PATTERN
    paths: IngestPaths = field(default_factory=IngestPaths)
    concurrency: int = 8
    max_consecutive_errors: int = 200
    mqtt_client_id: str | None = None
    api_key: str | None = None  # platform API key for provisioning when authentication is on


@dataclass(frozen=True)
class Phase:
    """A stretch of simulated time: [start, end) at ``speed`` (None: as fast as possible).

    A ``wall_clock`` phase follows the real clock (its readings are due at their own time);
    otherwise the simulated clock starts at ``start`` when the phase begins.
    """

    name: str
    start: datetime
    end: datetime | None
    speed: float | None
    wall_clock: bool = False


def plan_phases(start: datetime | None, end: datetime | None, speed: float | None, now: datetime) -> list[Phase]:
    """The phases of a run (see the module docstring); ValueError on inconsistent times."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware")
    if start is not None and end is not None and start >= end:
        raise ValueError(f"the start ({start.isoformat()}) must be before the end ({end.isoformat()})")
    if speed is not None and not (speed > 0 and math.isfinite(speed)):
        raise ValueError(f"speed must be a positive factor, got {speed}")

    def live(begin: datetime) -> Phase:
        """Real time (wall clock) or a clock running ``speed`` times faster from ``begin``."""
        if speed is None or speed == 1:
            return Phase("live", begin, end, 1.0, wall_clock=True)
        return Phase("accelerated", begin, end, speed)

    if start is None or (speed is not None and start >= now and end is None):
        begin = start or now
        if end is not None and end <= begin:
            raise ValueError(f"the end ({end.isoformat()}) is not after the start of the clock ({begin.isoformat()})")
        return [live(now) if start is None else Phase("accelerated", begin, None, speed)]
    if end is not None and speed is not None:
        return [Phase("replay" if speed == 1 else "accelerated", start, end, speed)]
    if start >= now:
        raise ValueError(f"a backfill starts in the past; {start.isoformat()} is not (use a speed to run a clock)")
    if end is not None:
        if end > now:
            raise ValueError(f"a backfill ends in the past; {end.isoformat()} is in the future "
                             "(leave the end out to continue live, or use a speed)")
        return [Phase("backfill", start, end, None)]
    return [Phase("backfill", start, now, None), live(now)]


def _jitter(dev: SimDevice, k: int) -> float:
    """Seconds (ms resolution) a slot is late on its nominal time."""
    span = min(MAX_JITTER_S, 0.05 * dev.period_s)
    return round(span * rnd.uniform(dev.seed, dev.index, k, "jitter"), 3)


def slot_time(dev: SimDevice, k: int) -> datetime:
    """When ``dev`` sends its reading number ``k`` (its frame counter), to the millisecond."""
    return dev.installed_at + timedelta(milliseconds=round((dev.phase_s + k * dev.period_s + _jitter(dev, k)) * 1000))


def first_slot(dev: SimDevice, t: datetime) -> int:
    """The first slot of ``dev`` at or after ``t``."""
    k = max(0, math.floor((t - dev.installed_at).total_seconds() - dev.phase_s) // dev.period_s)
    return k if slot_time(dev, k) >= t else k + 1


def iter_slots(devices: list[SimDevice] | tuple[SimDevice, ...], start: datetime,
               end: datetime | None) -> Iterator[tuple[datetime, SimDevice, int]]:
    """Every (time, device, slot) in [start, end) in time order (endless when ``end`` is None)."""
    heap = [(slot_time(d, k), n, k) for n, d in enumerate(devices) for k in (first_slot(d, start),)]
    heapq.heapify(heap)
    while heap:
        t, n, k = heap[0]
        if end is not None and t >= end:
            return
        dev = devices[n]
        heapq.heapreplace(heap, (slot_time(dev, k + 1), n, k + 1))
        yield t, dev, k


def count_slots(devices: list[SimDevice] | tuple[SimDevice, ...], start: datetime, end: datetime) -> int:
    """How many readings the devices send in [start, end)."""
    return sum(max(0, first_slot(d, end) - first_slot(d, start)) for d in devices)


@dataclass
class SimStats:
    """Progress of a run: uplinks produced, messages delivered and errors, by device kind and network."""

    phase: str = "idle"
    sim_time: datetime | None = None
    uplinks: int = 0
    sent: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    errors: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    by_network: dict[str, int] = field(default_factory=dict)
    last_errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    phase_total: int | None = None
    phase_done: int = 0
    fatal: str | None = None
    finished: bool = False

    @property
    def rate(self) -> float:
        """Messages delivered per wall-clock second so far."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def uplink_rate(self) -> float:
        """Uplinks produced per wall-clock second so far."""
        return self.uplinks / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def copy(self) -> SimStats:
        """A snapshot (the dicts and lists copied)."""
        return replace(self, by_kind=dict(self.by_kind), errors_by_kind=dict(self.errors_by_kind),
                       by_network=dict(self.by_network), last_errors=list(self.last_errors))


class Simulator:
    """A fleet simulator bound to a platform: provision it, run it (blocking, async or in a thread), watch its stats."""

    def __init__(self, config: SimulatorConfig) -> None:
        """Check the configuration and build the fleet; ValueError names what is wrong."""
        self.config = config
        self.options = MessageOptions(tenant=config.tenant, tts_tenant=config.tts_tenant,
                                      topic_pattern=config.topic_pattern)
        self.scenario = Scenario(tuple(config.floods))
        self._fleet = build_fleet(config.fleet)
        if config.mqtt is not None:
            parse_mqtt_address(config.mqtt)
        self.transport = resolve_transport(config.transport, http=config.target is not None,
                                           mqtt=config.mqtt is not None)
        self._check_routes()
        for name in ("rate", "duration"):
            value = getattr(config, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, got {value}")
        if config.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        plan_phases(config.start, config.end, config.speed, datetime.now(UTC))
        self._stats = SimStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def fleet(self) -> Fleet:
        """The simulated fleet."""
        return self._fleet

    def route(self, network: Network) -> Literal["mqtt", "http"]:
        """Whether messages of ``network`` go over MQTT or HTTP."""
        if network in GENERIC_NETWORKS:
            return network  # type: ignore[return-value]
        return self.transport

    def _check_routes(self) -> None:
        """Every network in use must have a transport (and, over HTTP, an integration key)."""
        used = {d.network for d in self._fleet.devices}
        for network in sorted(used):
            route = self.route(network)
            if route == "mqtt" and self.config.mqtt is None:
                raise ValueError(f"devices on the {network} network publish over MQTT: give an MQTT broker")
            if route == "http":
                if self.config.target is None:
                    raise ValueError(f"devices on the {network} network post over HTTP: give the Calanque URL")
                if not (self.config.keys.get(network) or self.config.keys.get("*")):
                    raise ValueError(
                        f"HTTP ingestion of {network} messages needs an integration key of kind {network}: "
                        f"create one (POST /api/v1/integrations) and give it as {network}=KEY (or one key for all)"
                    )

    # --- what is sent -------------------------------------------------------------------------
    def messages_at(self, dev: SimDevice, k: int, t: datetime | None = None) -> list[Message]:
        """The messages ``dev`` sends for its slot ``k`` (at ``t``, default the slot's time)."""
        at = t or slot_time(dev, k)
        values = reading(dev, at, self.scenario)
        frame = None
        if dev.network in ("chirpstack", "tts"):
            payload, port = encode_reading(dev, values)
            frame = Frame(k & 0xFFFFFFFF, port, payload)
        battery = None if dev.mains_powered else battery_level(dev, at)
        return build_messages(dev, k & 0xFFFFFFFF, at, values, frame, self.options, battery)

    def messages(self, start: datetime, end: datetime) -> Iterator[Message]:
        """Every message of [start, end) in time order, without sending anything."""
        for t, dev, k in iter_slots(self._fleet.devices, start, end):
            yield from self.messages_at(dev, k, t)

    # --- provisioning --------------------------------------------------------------------------
    def provision(self, progress: Callable[[str, int], None] | None = None) -> ProvisionReport:
        """Upsert the fleet's entities and device records into the target platform."""
        if self.config.target is None:
            raise ValueError("provisioning needs the Calanque URL (target)")
        return provision(self._fleet, self.config.target, tenant=self.config.tenant, progress=progress,
                         api_key=self.config.api_key)

    # --- running -------------------------------------------------------------------------------
    def stats(self) -> SimStats:
        """A snapshot of the run's statistics."""
        with self._lock:
            return self._stats.copy()

    @property
    def running(self) -> bool:
        """True while a background run is going."""
        return self._thread is not None and self._thread.is_alive()

    def run(self, on_progress: Callable[[SimStats], None] | None = None) -> SimStats:
        """Run to the end (or until stop() from another thread, the duration, or too many errors) in this thread."""
        self._stop.clear()
        return asyncio.run(self.run_async(on_progress))

    def start(self) -> None:
        """Run in a background thread; watch it with stats(), end it with stop()."""
        if self.running:
            raise RuntimeError("this simulator is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._thread_main, name="calanque-simulator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> SimStats:
        """Ask the run to stop, wait up to ``timeout`` seconds for it, and return the final stats."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return self.stats()

    def _thread_main(self) -> None:
        """Background thread body: run, keeping a failure in the stats."""
        try:
            asyncio.run(self.run_async())
        except Exception as err:  # the thread must not die silently: the error goes to the stats
            with self._lock:
                self._stats.fatal = self._stats.fatal or f"{type(err).__name__}: {err}"
                self._stats.finished = True

    async def run_async(self, on_progress: Callable[[SimStats], None] | None = None) -> SimStats:
        """Run to the end as an asyncio task (stop() ends it early); SimulationError when delivery is impossible."""
        cfg = self.config
        phases = plan_phases(cfg.start, cfg.end, cfg.speed, datetime.now(UTC))
        wall0 = time.monotonic()
        with self._lock:
            self._stats = SimStats()
        senders: dict[str, MqttSender | HttpSender] = {}
        routes = {self.route(d.network) for d in self._fleet.devices}
        queue: asyncio.Queue[Message | None] = asyncio.Queue(maxsize=cfg.concurrency * 4)
        async with contextlib.AsyncExitStack() as stack:
            try:
                if "mqtt" in routes and cfg.mqtt is not None:
                    senders["mqtt"] = await stack.enter_async_context(
                        MqttSender(cfg.mqtt, client_id=cfg.mqtt_client_id, max_inflight=max(20, cfg.concurrency * 2)))
                if "http" in routes and cfg.target is not None:
                    senders["http"] = await stack.enter_async_context(
                        HttpSender(cfg.target, paths=cfg.paths, keys=cfg.keys, tenant=cfg.tenant,
                                   concurrency=cfg.concurrency))
            except SendError as err:
                raise SimulationError(str(err)) from err
            consecutive = [0]
            workers = [asyncio.create_task(self._worker(queue, senders, consecutive)) for _ in range(cfg.concurrency)]
            try:
                for phase in phases:
                    await self._run_phase(phase, queue, wall0, on_progress)
                    if self._stop.is_set():
                        break
                for _ in workers:
                    await queue.put(None)
                await asyncio.gather(*workers)
            finally:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
        with self._lock:
            self._stats.elapsed_s = time.monotonic() - wall0
            self._stats.phase = "done"
            self._stats.finished = True
            final = self._stats.copy()
        if on_progress:
            on_progress(final)
        if final.fatal:
            raise SimulationError(final.fatal)
        return final

    def _out_of_time(self, wall0: float) -> bool:
        """True when the run's wall-clock duration is spent."""
        return self.config.duration is not None and time.monotonic() - wall0 >= self.config.duration

    async def _run_phase(self, phase: Phase, queue: asyncio.Queue[Message | None], wall0: float,
                         on_progress: Callable[[SimStats], None] | None) -> None:
        """Produce the readings of one phase at its pace."""
        devices = self._fleet.devices
        total = count_slots(devices, phase.start, phase.end) if phase.end is not None else None
        with self._lock:
            self._stats.phase, self._stats.phase_total, self._stats.phase_done = phase.name, total, 0
            self._stats.sim_time = phase.start
        loop = asyncio.get_running_loop()
        phase_wall0 = loop.time()
        rate = self.config.rate
        next_send = loop.time()
        last_report = 0.0
        produced = 0
        for t, dev, k in iter_slots(devices, phase.start, phase.end):
            while phase.speed is not None:  # wait for the (simulated) clock to reach t
                if phase.wall_clock:
                    sim_now = datetime.now(UTC)
                else:
                    sim_now = phase.start + timedelta(seconds=(loop.time() - phase_wall0) * phase.speed)
                wait = (t - sim_now).total_seconds() / phase.speed
                if wait <= 0 or self._stop.is_set() or self._out_of_time(wall0):
                    break
                with self._lock:
                    self._stats.sim_time = sim_now
                    self._stats.elapsed_s = time.monotonic() - wall0
                last_report = self._report(on_progress, last_report)
                await asyncio.sleep(min(wait, 0.25))
            if self._stop.is_set() or self._out_of_time(wall0):
                return
            if rate is not None:
                now = loop.time()
                next_send = max(next_send, now)
                if next_send > now:
                    await asyncio.sleep(next_send - now)
                next_send += 1.0 / rate
            try:
                batch = self.messages_at(dev, k, t)
            except (CodecError, ValueError) as err:
                self._record_error(dev.kind, f"{dev.id}: cannot build its uplink: {err}")
                continue
            for message in batch:
                await queue.put(message)
            produced += 1
            with self._lock:
                self._stats.uplinks += 1
                self._stats.phase_done += 1
                self._stats.sim_time = t
                self._stats.elapsed_s = time.monotonic() - wall0
            if produced % 64 == 0:
                await asyncio.sleep(0)
            last_report = self._report(on_progress, last_report)

    def _report(self, on_progress: Callable[[SimStats], None] | None, last: float) -> float:
        """Call ``on_progress`` at most five times a second; return the time of the last call."""
        now = time.monotonic()
        if on_progress is None or now - last < 0.2:
            return last
        on_progress(self.stats())
        return now

    def _record_error(self, kind: str, text: str, *, dead_letter: bool = False) -> None:
        """Count a failed delivery (or a dead-lettered message) of a device kind and keep its text."""
        with self._lock:
            if dead_letter:
                self._stats.dead_letters += 1
            else:
                self._stats.errors += 1
                self._stats.errors_by_kind[kind] = self._stats.errors_by_kind.get(kind, 0) + 1
            self._stats.last_errors = [*self._stats.last_errors[-(_LAST_ERRORS - 1):], text]

    async def _worker(self, queue: asyncio.Queue[Message | None], senders: dict[str, MqttSender | HttpSender],
                      consecutive: list[int]) -> None:
        """Deliver queued messages until a None arrives."""
        while True:
            message = await queue.get()
            try:
                if message is None:
                    return
                await self._deliver(message, senders, consecutive)
            finally:
                queue.task_done()

    async def _deliver(self, message: Message, senders: dict[str, MqttSender | HttpSender],
                       consecutive: list[int]) -> None:
        """Send one message and account for the outcome."""
        kind = message.device.kind
        sender = senders.get(self.route(message.network))
        try:
            if sender is None:
                raise SendError(f"no {self.route(message.network)} transport for {message.network} messages")
            outcome = await sender.send(message)
        except DeadLettered as err:
            consecutive[0] = 0
            self._record_error(kind, f"dead letter: {err}", dead_letter=True)
            return
        except SendError as err:
            consecutive[0] += 1
            self._record_error(kind, str(err))
            if consecutive[0] >= self.config.max_consecutive_errors:
                with self._lock:
                    if self._stats.fatal is None:
                        self._stats.fatal = f"stopped after {consecutive[0]} failed deliveries in a row; last: {err}"
                self._stop.set()
            return
        consecutive[0] = 0
        with self._lock:
            self._stats.sent += 1
            if outcome == "duplicate":
                self._stats.duplicates += 1
            self._stats.by_kind[kind] = self._stats.by_kind.get(kind, 0) + 1
            self._stats.by_network[message.network] = self._stats.by_network.get(message.network, 0) + 1
