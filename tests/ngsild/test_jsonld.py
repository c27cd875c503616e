"""Tests of JSON-LD @context resolution, term expansion/compaction and the /jsonldContexts logic.

Remote contexts are served by a real HTTP server on 127.0.0.1; expected IRIs are written
literally from reading the NGSI-LD core context and the Smart Data Models context files.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from calanque.ngsild.errors import (
    BadRequestData,
    LdContextNotAvailable,
    OperationNotSupported,
    ResourceNotFound,
)
from calanque.ngsild.jsonld import (
    ContextResolver,
    MemoryContextCache,
    load_preload_map,
)

SDM = Path("/work/shared/reference/smart-data-models")
NGSI = "https://uri.etsi.org/ngsi-ld/"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
EX = "http://example.org/"

# Every published URL of the core context (ETSI uri.etsi.org/ngsi-ld/v1/), written out literally.
CORE_URLS = [
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.3.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.4.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.5.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld",
]


def sdm_context(name: str) -> dict[str, Any]:
    """The inline @context object of a Smart Data Models context file."""
    return json.loads((SDM / f"context-{name}.jsonld").read_text())["@context"]


# --- test servers ------------------------------------------------------------------------


class ContextServer:
    """A real HTTP server serving @context documents and counting requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.hits: Counter[str] = Counter()
        self.delay: dict[str, float] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                server.hits[self.path] += 1
                time.sleep(server.delay.get(self.path, 0.0))
                status, ctype, body = server.routes.get(self.path, (404, "text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def json(self, path: str, doc: Any, status: int = 200) -> str:
        """Serve doc as JSON at path; return its URL."""
        self.routes[path] = (status, "application/ld+json", json.dumps(doc).encode())
        return self.base + path

    def raw(self, path: str, body: bytes, ctype: str = "text/html", status: int = 200) -> str:
        """Serve raw bytes at path; return its URL."""
        self.routes[path] = (status, ctype, body)
        return self.base + path


@pytest.fixture(scope="module")
def server() -> Iterator[ContextServer]:
    srv = ContextServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                accepted.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture()
def dead_port() -> int:
    """A local port on which nobody listens (connection refused)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


# --- core context ------------------------------------------------------------------------


@pytest.mark.parametrize("url", CORE_URLS)
def test_every_core_url_resolves_without_network(url: str) -> None:
    resolver = ContextResolver(fetch_timeout=0.5)
    ctx = resolver.resolve(url)
    assert ctx.expand("observedAt") == NGSI + "observedAt"
    assert ctx.urls == ()  # built in: nothing was fetched or stored
    assert resolver.backend.list() == []
    assert resolver.list_contexts() == ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"]


def test_core_terms_expand_as_the_core_context_defines_them() -> None:
    ctx = ContextResolver().resolve(None)
    # From ngsi-ld-core-context-v1.9.jsonld: "id": "@id", "type": "@type",
    # "location": "ngsi-ld:location", "value": {"@id": "ngsi-ld:hasValue"...} is "ngsi-ld:hasValue",
    # "object": {"@id": "ngsi-ld:hasObject", ...}, "Point": "geojson:Point" with geojson = purl vocab#.
    assert ctx.expand("id") == "@id"
    assert ctx.expand("type") == "@type"
    assert ctx.expand("location") == "https://uri.etsi.org/ngsi-ld/location"
    assert ctx.expand("observedAt") == "https://uri.etsi.org/ngsi-ld/observedAt"
    assert ctx.expand("value") == "https://uri.etsi.org/ngsi-ld/hasValue"
    assert ctx.expand("object") == "https://uri.etsi.org/ngsi-ld/hasObject"
    assert ctx.expand("Point") == "https://purl.org/geojson/vocab#Point"
    assert ctx.expand("Property") == "https://uri.etsi.org/ngsi-ld/Property"
    assert ctx.source == "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"


def test_unknown_terms_prefixes_and_absolute_iris() -> None:
    ctx = ContextResolver().resolve(None)
    assert ctx.expand("temperature") == DEFAULT + "temperature"
    assert ctx.compact(DEFAULT + "temperature") == "temperature"
    assert ctx.expand("ngsi-ld:foo") == NGSI + "foo"  # "ngsi-ld" prefix of the core context
    assert ctx.compact(NGSI + "foo") == "ngsi-ld:foo"
    assert ctx.expand("urn:ngsi-ld:Thing:1") == "urn:ngsi-ld:Thing:1"
    assert ctx.expand("http://example.org/a#b") == "http://example.org/a#b"
    assert ctx.compact("http://example.org/a#b") == "http://example.org/a#b"
    assert ctx.compact(NGSI + "location") == "location"


# --- Smart Data Models contexts ----------------------------------------------------------


def test_smart_data_models_environment_terms() -> None:
    ctx = ContextResolver().resolve(sdm_context("Environment"))
    # Literal values read from context-Environment.jsonld.
    assert ctx.expand("NoiseLevelObserved") == "https://smartdatamodels.org/dataModel.Environment/NoiseLevelObserved"
    assert ctx.expand("LAeq") == "https://smartdatamodels.org/dataModel.Environment/LAeq"
    assert ctx.expand("LAmax") == "https://smartdatamodels.org/dataModel.Environment/LAmax"
    assert ctx.expand("dateObserved") == "https://smartdatamodels.org/dateObserved"
    assert ctx.compact("https://smartdatamodels.org/dataModel.Environment/LAeq") == "LAeq"
    # The SDM file redefines "location" with the same IRI as the core context.
    assert ctx.expand("location") == "https://uri.etsi.org/ngsi-ld/location"
    assert ctx.expand("notInTheModel") == DEFAULT + "notInTheModel"


@pytest.mark.parametrize(
    ("model", "term", "iri"),
    [
        ("Streetlighting", "Streetlight", "https://smartdatamodels.org/dataModel.Streetlighting/Streetlight"),
        ("Streetlighting", "powerState", "https://smartdatamodels.org/dataModel.Streetlighting/powerState"),
        ("WasteManagement", "WasteContainer", "https://smartdatamodels.org/dataModel.WasteManagement/WasteContainer"),
        ("WasteManagement", "fillingLevel", "https://smartdatamodels.org/dataModel.WasteManagement/fillingLevel"),
        ("Transportation", "CrowdFlowObserved",
         "https://smartdatamodels.org/dataModel.Transportation/CrowdFlowObserved"),
        ("Transportation", "peopleCount", "https://smartdatamodels.org/dataModel.Transportation/peopleCount"),
        ("WaterQuality", "WaterQualityObserved",
         "https://smartdatamodels.org/dataModel.WaterQuality/WaterQualityObserved"),
        ("WaterQuality", "conductivity", "https://smartdatamodels.org/dataModel.WaterQuality/conductivity"),
    ],
)
def test_smart_data_models_literal_iris(model: str, term: str, iri: str) -> None:
    ctx = ContextResolver().resolve(sdm_context(model))
    assert ctx.expand(term) == iri
    assert ctx.compact(iri) == term


@pytest.mark.parametrize("model", ["Environment", "Streetlighting", "Transportation", "WasteManagement",
                                   "WaterQuality"])
def test_every_smart_data_models_term_round_trips(model: str) -> None:
    local = sdm_context(model)
    ctx = ContextResolver().resolve(local)
    for term, definition in local.items():
        iri = ctx.expand(term)
        if iri.startswith("@"):
            continue  # "id" / "type" are keyword aliases
        declared = definition if isinstance(definition, str) else definition["@id"]
        # Each SDM definition is an absolute IRI; the core context wins on its own terms but
        # every collision in these files (location, status, value, bbox...) declares the core's IRI.
        assert iri == declared, term
        assert ctx.compact(iri) == term, term


def test_later_contexts_override_earlier_ones() -> None:
    resolver = ContextResolver()
    env_then_water = resolver.resolve([sdm_context("Environment"), sdm_context("WaterQuality")])
    water_then_env = resolver.resolve([sdm_context("WaterQuality"), sdm_context("Environment")])
    assert env_then_water.expand("temperature") == "https://smartdatamodels.org/dataModel.WaterQuality/temperature"
    assert water_then_env.expand("temperature") == "https://smartdatamodels.org/dataModel.Environment/temperature"
    # The overridden IRI has no term left: it comes back unchanged.
    shadowed = "https://smartdatamodels.org/dataModel.Environment/temperature"
    assert env_then_water.compact(shadowed) == shadowed


# --- user contexts -----------------------------------------------------------------------


def test_core_context_wins_over_user_definitions() -> None:
    ctx = ContextResolver().resolve({"location": "http://schema.org/location", "schema": "http://schema.org/"})
    assert ctx.expand("location") == NGSI + "location"  # clause C.9: core has final precedence
    assert ctx.expand("schema:location") == "http://schema.org/location"
    assert ctx.compact("http://schema.org/location") == "schema:location"


def test_user_context_can_use_core_prefixes_in_any_order() -> None:
    resolver = ContextResolver()
    for value in (
        [CORE_URLS[-1], {"Sensor": "ngsi-ld:Sensor"}],
        [{"Sensor": "ngsi-ld:Sensor"}, CORE_URLS[0]],
    ):
        assert resolver.resolve(value).expand("Sensor") == NGSI + "Sensor"


def test_terms_reference_each_other_in_any_order() -> None:
    ctx = ContextResolver().resolve({"Vehicle": "ex:Vehicle", "speed": {"@id": "ex:speed"}, "ex": EX})
    assert ctx.expand("Vehicle") == EX + "Vehicle"
    assert ctx.expand("speed") == EX + "speed"
    assert ctx.expand("ex:brand") == EX + "brand"
    assert ctx.compact(EX + "brand") == "ex:brand"
    assert ctx.compact(EX + "speed") == "speed"


def test_user_vocab() -> None:
    ctx = ContextResolver().resolve({"@vocab": "https://example.org/vocab/"})
    assert ctx.expand("foo") == "https://example.org/vocab/foo"
    assert ctx.compact("https://example.org/vocab/foo") == "foo"
    assert ctx.expand("location") == NGSI + "location"
    # A default-context IRI cannot be a bare term under another @vocab: it stays expandable.
    compacted = ctx.compact(DEFAULT + "bar")
    assert compacted == "ngsi-ld:default-context/bar"
    assert ctx.expand(compacted) == DEFAULT + "bar"


def test_compaction_prefers_user_terms_then_shortest_then_alphabetical() -> None:
    ctx = ContextResolver().resolve({"reading": NGSI + "hasValue", "b": EX + "x", "a": EX + "x", "aa": EX + "x"})
    assert ctx.compact(NGSI + "hasValue") == "reading"  # user term before the core's "value"
    assert ctx.compact(EX + "x") == "a"
    assert ctx.expand("value") == NGSI + "hasValue"


def test_vocab_values() -> None:
    ctx = ContextResolver().resolve({"Working": EX + "status/Working"})
    assert ctx.expand_vocab("Working") == EX + "status/Working"
    assert ctx.compact_vocab(EX + "status/Working") == "Working"
    assert ctx.expand_vocab("Idle") == DEFAULT + "Idle"
    assert ctx.compact_vocab(DEFAULT + "Idle") == "Idle"
    # Keyword aliases do not apply to values: "id" is a plain word here.
    assert ctx.expand_vocab("id") == DEFAULT + "id"
    assert ctx.compact_vocab(DEFAULT + "id") == "id"


def test_null_context_drops_earlier_user_terms() -> None:
    ctx = ContextResolver().resolve([{"Vehicle": EX + "Vehicle"}, None, {"Car": EX + "Car"}])
    assert ctx.expand("Vehicle") == DEFAULT + "Vehicle"
    assert ctx.expand("Car") == EX + "Car"


@pytest.mark.parametrize(
    "bad",
    [
        {"speed": 42},
        {"speed": ["http://example.org/speed"]},
        {"speed": {"@id": 5}},
        {"a": "b:x", "b": "a:y"},
        {"@vocab": 3},
        [{"ok": EX + "ok"}, 7],
        42,
    ],
)
def test_structurally_invalid_contexts_are_bad_request_data(bad: Any) -> None:
    with pytest.raises(BadRequestData):
        ContextResolver().resolve(bad)


# --- remote contexts ---------------------------------------------------------------------


def test_remote_context_is_fetched_once_and_shared(server: ContextServer) -> None:
    url = server.json("/once/vehicle.jsonld", {"@context": {"Vehicle": EX + "Vehicle", "speed": EX + "speed"},
                                               "ignored": True})
    backend = MemoryContextCache()
    resolver = ContextResolver(cache_backend=backend)
    assert resolver.resolve(url).expand("Vehicle") == EX + "Vehicle"
    assert resolver.resolve(url).expand("speed") == EX + "speed"
    assert resolver.resolve([url, {"brand": EX + "brand"}]).expand("brand") == EX + "brand"
    assert resolver.resolve([url, CORE_URLS[-1]]).source == [url, CORE_URLS[-1]]
    # A second worker sharing the backend does not download it either.
    other = ContextResolver(cache_backend=backend)
    assert other.resolve([{"x": EX + "x"}, url]).expand("Vehicle") == EX + "Vehicle"
    assert server.hits["/once/vehicle.jsonld"] == 1
    assert backend.get(url) == {"@context": {"Vehicle": EX + "Vehicle", "speed": EX + "speed"}}


def test_concurrent_resolutions_fetch_once(server: ContextServer) -> None:
    url = server.json("/slow/ctx.jsonld", {"@context": {"Slow": EX + "Slow"}})
    server.delay["/slow/ctx.jsonld"] = 0.3
    resolver = ContextResolver()
    results: list[str] = []

    def worker(i: int) -> None:
        results.append(resolver.resolve([url, {f"t{i}": EX + f"t{i}"}]).expand("Slow"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [EX + "Slow"] * 8
    assert server.hits["/slow/ctx.jsonld"] == 1


def test_nested_and_relative_urls(server: ContextServer) -> None:
    server.json("/nest/base.jsonld", {"@context": {"ex": EX, "Vehicle": "ex:Vehicle"}})
    url = server.json("/nest/top.jsonld", {"@context": ["base.jsonld", {"brand": "ex:brand"}]})
    ctx = ContextResolver().resolve(url)
    assert ctx.expand("Vehicle") == EX + "Vehicle"
    assert ctx.expand("brand") == EX + "brand"
    assert ctx.urls == (url, server.base + "/nest/base.jsonld")


def test_import_merges_a_remote_context(server: ContextServer) -> None:
    url = server.json("/import/base.jsonld", {"@context": {"ex": EX, "speed": "ex:speed"}})
    ctx = ContextResolver().resolve({"@import": url, "speed": "ex:velocity"})
    assert ctx.expand("speed") == EX + "velocity"
    assert ctx.expand("ex:x") == EX + "x"


def test_recursive_inclusion_is_bad_request(server: ContextServer) -> None:
    server.json("/cycle/a.jsonld", {"@context": "b.jsonld"})
    server.json("/cycle/b.jsonld", {"@context": ["a.jsonld"]})
    with pytest.raises(BadRequestData, match="recursive"):
        ContextResolver().resolve(server.base + "/cycle/a.jsonld")


def test_invalid_term_in_remote_context_is_bad_request(server: ContextServer) -> None:
    url = server.json("/bad/term.jsonld", {"@context": {"speed": 42}})
    with pytest.raises(BadRequestData, match="speed"):
        ContextResolver().resolve(url)


@pytest.mark.parametrize(
    ("path", "setup", "reason"),
    [
        ("/fail/missing.jsonld", None, "HTTP 404"),
        ("/fail/html", (b"<html>hello</html>", "text/html", 200), "not JSON"),
        ("/fail/no-context.json", (b'{"Vehicle": "http://example.org/Vehicle"}', "application/json", 200),
         'has no "@context"'),
        ("/fail/server-error", (b'{"@context": {}}', "application/json", 500), "HTTP 500"),
        ("/fail/big.jsonld", (b'{"@context": {"a": "' + b"x" * 5000 + b'"}}', "application/json", 200), "limit"),
    ],
)
def test_fetch_failures_are_ld_context_not_available(server: ContextServer, path: str, setup: Any,
                                                     reason: str) -> None:
    if setup is not None:
        server.raw(path, setup[0], setup[1], setup[2])
    url = server.base + path
    with pytest.raises(LdContextNotAvailable) as err:
        ContextResolver(max_bytes=1000).resolve([{"a": EX + "a"}, url])
    assert url in err.value.detail
    assert reason in err.value.detail
    assert err.value.status == 503


def test_connection_refused_is_ld_context_not_available(dead_port: int) -> None:
    url = f"http://127.0.0.1:{dead_port}/ctx.jsonld"
    with pytest.raises(LdContextNotAvailable, match="127.0.0.1"):
        ContextResolver(fetch_timeout=2.0).resolve(url)


def test_silent_server_fails_within_the_fetch_timeout(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/never.jsonld"
    resolver = ContextResolver(fetch_timeout=1.0)
    start = time.monotonic()
    with pytest.raises(LdContextNotAvailable) as err:
        resolver.resolve(url)
    elapsed = time.monotonic() - start
    # Bounded: the deadline holds (never hangs); the upper bound leaves room for a loaded CI machine.
    assert 0.9 <= elapsed < 4.0
    assert url in err.value.detail


def test_only_http_urls_are_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "ctx.jsonld"
    secret.write_text('{"@context": {"Secret": "http://example.org/Secret"}}')
    with pytest.raises(BadRequestData, match="http"):
        ContextResolver().resolve(secret.as_uri())


def test_async_resolve(server: ContextServer) -> None:
    url = server.json("/async/ctx.jsonld", {"@context": {"Bike": EX + "Bike"}})
    resolver = ContextResolver()

    async def run() -> tuple[str, str]:
        first = await resolver.aresolve(url)
        second = await resolver.aresolve(url)
        return first.expand("Bike"), second.expand("Bike")

    assert asyncio.run(run()) == (EX + "Bike", EX + "Bike")
    assert server.hits["/async/ctx.jsonld"] == 1


# --- preloading --------------------------------------------------------------------------


def test_preload_map_works_offline(tmp_path: Path, dead_port: int) -> None:
    url = f"http://127.0.0.1:{dead_port}/contexts/environment.jsonld"
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "env.jsonld").write_text((SDM / "context-Environment.jsonld").read_text())
    (tmp_path / "preload.json").write_text(json.dumps({url: "files/env.jsonld"}))
    mapping = load_preload_map(tmp_path / "preload.json")
    assert mapping == {url: (tmp_path / "files" / "env.jsonld").resolve()}
    resolver = ContextResolver(preload=mapping, fetch_timeout=1.0)
    ctx = resolver.resolve(url)
    assert ctx.expand("NoiseLevelObserved") == "https://smartdatamodels.org/dataModel.Environment/NoiseLevelObserved"
    assert url in resolver.list_contexts(kind="Cached")


def test_preload_file_method_and_errors(tmp_path: Path, dead_port: int) -> None:
    url = f"http://127.0.0.1:{dead_port}/streetlighting.jsonld"
    resolver = ContextResolver()
    resolver.preload_file(url, SDM / "context-Streetlighting.jsonld")
    assert resolver.resolve(url).expand("Streetlight") == (
        "https://smartdatamodels.org/dataModel.Streetlighting/Streetlight"
    )
    (tmp_path / "broken.jsonld").write_text('{"no": "context"}')
    with pytest.raises(ValueError, match="@context"):
        resolver.preload_file(url, tmp_path / "broken.jsonld")
    with pytest.raises(ValueError, match="core"):
        resolver.preload_file(CORE_URLS[3], SDM / "context-Streetlighting.jsonld")
    (tmp_path / "map.json").write_text('["not", "a", "map"]')
    with pytest.raises(ValueError, match="JSON object"):
        load_preload_map(tmp_path / "map.json")


# --- /jsonldContexts ---------------------------------------------------------------------


def test_hosted_context_lifecycle(dead_port: int) -> None:
    base = f"http://127.0.0.1:{dead_port}"  # never contacted: hosted contexts are served locally
    resolver = ContextResolver(fetch_timeout=1.0)
    info = resolver.add_hosted({"@context": {"Parking": EX + "Parking"}, "extra": 1}, base_url=base)
    assert info.kind == "Hosted"
    assert info.url == f"{base}/ngsi-ld/v1/jsonldContexts/{info.local_id}"
    assert resolver.resolve(info.url).expand("Parking") == EX + "Parking"
    assert resolver.get_context(info.local_id) == {"@context": {"Parking": EX + "Parking"}}
    assert resolver.get_context(info.url) == {"@context": {"Parking": EX + "Parking"}}
    details = resolver.get_context(info.local_id, details=True)
    assert details["URL"] == info.url and details["localId"] == info.local_id and details["kind"] == "Hosted"
    assert set(details) <= {"URL", "localId", "kind", "createdAt", "lastUsage", "numberOfHits", "extraInfo"}
    assert resolver.list_contexts(kind="Hosted") == [info.url]
    with pytest.raises(BadRequestData, match="Cached"):
        resolver.delete_context(info.local_id, reload=True)
    resolver.delete_context(info.local_id)
    with pytest.raises(ResourceNotFound):
        resolver.get_context(info.local_id)
    with pytest.raises(LdContextNotAvailable):
        resolver.resolve(info.url)  # gone: the broker URL is now fetched, and nobody answers


def test_hosted_context_is_found_under_another_host_name() -> None:
    resolver = ContextResolver(fetch_timeout=1.0)
    info = resolver.add_hosted({"@context": {"Parking": EX + "Parking"}}, base_url="http://broker.internal:1026")
    other_url = f"http://203.0.113.9:8080/ngsi-ld/v1/jsonldContexts/{info.local_id}"
    assert resolver.resolve(other_url).expand("Parking") == EX + "Parking"


def test_add_hosted_rejects_invalid_payloads() -> None:
    resolver = ContextResolver()
    with pytest.raises(BadRequestData, match='"@context"'):
        resolver.add_hosted({"Parking": EX + "Parking"}, base_url="http://b")
    with pytest.raises(BadRequestData):
        resolver.add_hosted({"@context": {"Parking": 3}}, base_url="http://b")
    assert resolver.list_contexts(kind="Hosted") == []


def test_implicitly_created_contexts_are_deduplicated() -> None:
    resolver = ContextResolver()
    value = [{"Parking": EX + "Parking"}, CORE_URLS[-1]]
    first = resolver.add_implicit(value, base_url="http://b")
    second = resolver.add_implicit([{"Parking": EX + "Parking"}, CORE_URLS[-1]], base_url="http://b")
    assert first.local_id == second.local_id
    assert first.kind == "ImplicitlyCreated"
    assert resolver.list_contexts(kind="ImplicitlyCreated") == [first.url]
    assert resolver.get_context(first.local_id) == {"@context": value}


def test_core_context_cannot_be_deleted() -> None:
    resolver = ContextResolver()
    for url in CORE_URLS:
        with pytest.raises(BadRequestData, match="core"):
            resolver.delete_context(url)
    resolver.delete_context(CORE_URLS[-1], reload=True)  # built in: reloading is a no-op
    details = resolver.get_context(CORE_URLS[2], details=True)
    assert details["URL"] == CORE_URLS[-1] and details["kind"] == "Cached"
    with pytest.raises(OperationNotSupported):
        resolver.get_context(CORE_URLS[-1])
    assert resolver.resolve(None).expand("location") == NGSI + "location"


def test_cached_context_details_hits_delete_and_reload(server: ContextServer) -> None:
    path = "/cached/mutable.jsonld"
    url = server.json(path, {"@context": {"Old": EX + "Old"}})
    resolver = ContextResolver()
    for _ in range(3):
        resolver.resolve(url)
    details = resolver.get_context(url, details=True)
    assert details["kind"] == "Cached" and details["numberOfHits"] == 3 and "lastUsage" in details
    assert resolver.get_context(details["localId"], details=True)["numberOfHits"] == 4  # serving counts too
    with pytest.raises(OperationNotSupported):
        resolver.get_context(url)

    server.json(path, {"@context": {"New": EX + "New"}})
    resolver.delete_context(url, reload=True)
    assert server.hits[path] == 2
    assert resolver.resolve(url).expand("New") == EX + "New"

    server.json(path, {"@context": {}}, status=404)
    with pytest.raises(LdContextNotAvailable):
        resolver.delete_context(url, reload=True)
    assert resolver.resolve(url).expand("New") == EX + "New"  # the stored copy is kept

    resolver.delete_context(details["localId"])
    assert url not in resolver.list_contexts()
    with pytest.raises(LdContextNotAvailable):
        resolver.resolve(url)  # downloaded again (and the server now answers 404)
    assert server.hits[path] == 4


def test_list_and_lookup_errors() -> None:
    resolver = ContextResolver()
    with pytest.raises(BadRequestData, match="kind"):
        resolver.list_contexts(kind="Remote")
    with pytest.raises(ResourceNotFound):
        resolver.get_context("urn:ngsi-ld:jsonldContext:nope")
    with pytest.raises(ResourceNotFound):
        resolver.delete_context("urn:ngsi-ld:jsonldContext:nope")
    with pytest.raises(BadRequestData):
        resolver.delete_context("")
    listed = resolver.list_contexts(details=True)
    assert [d["URL"] for d in listed] == [CORE_URLS[-1]]


# --- cost --------------------------------------------------------------------------------


def test_per_request_cost_is_microseconds(capsys: pytest.CaptureFixture[str]) -> None:
    resolver = ContextResolver()
    inline = sdm_context("Environment")
    ctx = resolver.resolve(inline)
    n = 100_000
    start = time.perf_counter()
    for _ in range(n):
        ctx.expand("LAeq")
    expand_us = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for _ in range(n):
        ctx.compact("https://smartdatamodels.org/dataModel.Environment/LAeq")
    compact_us = (time.perf_counter() - start) / n * 1e6
    url = CORE_URLS[-1]
    start = time.perf_counter()
    for _ in range(n):
        resolver.resolve(url)
    resolve_url_us = (time.perf_counter() - start) / n * 1e6
    m = 2_000
    start = time.perf_counter()
    for _ in range(m):
        resolver.resolve(inline)  # 229-term inline object: canonical JSON key each time
    resolve_inline_us = (time.perf_counter() - start) / m * 1e6
    with capsys.disabled():
        print(f"\nexpand {expand_us:.2f} us, compact {compact_us:.2f} us, resolve(URL) hit {resolve_url_us:.2f} us,"
              f" resolve(inline 229 terms) hit {resolve_inline_us:.2f} us")
    assert expand_us < 5 and compact_us < 5 and resolve_url_us < 20 and resolve_inline_us < 500
