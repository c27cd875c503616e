"""JSON-LD @context handling for the NGSI-LD broker: resolution, caching and term expansion.

The broker needs only *term-level* JSON-LD: entity types, attribute names and VocabProperty
values are expanded to IRIs (and compacted back) against the caller's @context. A full
JSON-LD processor is far too slow for that per request, so this module:

* resolves a request's @context (URL, inline object, or a list mixing both) once into an
  :class:`ActiveContext` — a flat term table — and caches it (LRU keyed by the input);
* fetches remote contexts once over HTTP(S) with a hard overall deadline and a size limit,
  then keeps them in a :class:`ContextCacheBackend` (memory by default; the store can
  provide a persistent one shared by worker processes);
* ships the NGSI-LD core context as package data, recognised under every URL it has been
  published at and never fetched. It is applied last and wins over user definitions
  (ETSI GS CIM 009 clause C.9), while its terms are also usable as prefixes by user contexts;
* implements the logic of the ``/jsonldContexts`` API (clause 5.13): list, serve, add a
  "Hosted" context, delete and reload.

Per request, :meth:`ContextResolver.resolve` on a cached input and
:meth:`ActiveContext.expand` / :meth:`ActiveContext.compact` are dict lookups (memoised).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx
import orjson

from calanque.ngsild.canonical import CORE_CONTEXT_URL, DEFAULT_PREFIX
from calanque.ngsild.errors import (
    BadRequestData,
    LdContextNotAvailable,
    OperationNotSupported,
    ResourceNotFound,
)

# Every URL at which ETSI has published the NGSI-LD core context (v1.3 to v1.9), plus the
# unversioned "latest v1" URL. The http:// spellings are tolerated aliases of the same files.
_CORE_HTTPS_URLS = (
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    *(f"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{minor}.jsonld" for minor in range(3, 10)),
)
CORE_CONTEXT_URLS: frozenset[str] = frozenset(
    (*_CORE_HTTPS_URLS, *(u.replace("https://", "http://", 1) for u in _CORE_HTTPS_URLS))
)
CORE_CONTEXT_LOCAL_ID = "urn:ngsi-ld:jsonldContext:core"
CORE_CONTEXT_FILE = "ngsi-ld-core-context-v1.9.jsonld"

KIND_HOSTED = "Hosted"
KIND_CACHED = "Cached"
KIND_IMPLICIT = "ImplicitlyCreated"
CONTEXT_KINDS = (KIND_CACHED, KIND_HOSTED, KIND_IMPLICIT)

JSONLD_CONTEXTS_PATH = "/ngsi-ld/v1/jsonldContexts/"
_LOCAL_ID_PREFIX = "urn:ngsi-ld:jsonldContext:"

# JSON-LD 1.1 keywords; a term mapped to one of them is a keyword alias (e.g. "id" -> "@id").
_KEYWORDS = frozenset(
    {
        "@base", "@container", "@context", "@direction", "@graph", "@id", "@import", "@included",
        "@index", "@json", "@language", "@list", "@nest", "@none", "@prefix", "@propagate",
        "@protected", "@reverse", "@set", "@type", "@value", "@version", "@vocab",
    }
)
# A simple term definition whose IRI ends with one of these can be used as a prefix (JSON-LD 1.1).
_GEN_DELIMS = (":", "/", "?", "#", "[", "]", "@")
_MAX_NESTING = 8
_MEMO_LIMIT = 50_000


def _utc_iso(epoch: float) -> str:
    """Format an epoch time as an ISO 8601 UTC timestamp with a Z suffix."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class ContextInfo:
    """Metadata of a stored @context, as listed and served by the /jsonldContexts API."""

    url: str
    local_id: str
    kind: str
    created_at: str
    last_usage: str | None = None
    number_of_hits: int | None = None
    extra_info: dict[str, Any] | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        """Return the details representation of clause 5.13.3.5 (optional members only when set)."""
        body: dict[str, Any] = {"URL": self.url, "localId": self.local_id, "kind": self.kind,
                                "createdAt": self.created_at}
        if self.last_usage is not None:
            body["lastUsage"] = self.last_usage
        if self.number_of_hits is not None:
            body["numberOfHits"] = self.number_of_hits
        if self.extra_info:
            body["extraInfo"] = self.extra_info
        return body


class ContextCacheBackend(Protocol):
    """Storage of context documents, so that a store can persist them and share them between workers.

    Documents are JSON objects with an ``"@context"`` member. ``url`` is the original URL of a
    "Cached" context, or the broker URL of a "Hosted" / "ImplicitlyCreated" one.
    """

    def get(self, url: str) -> dict[str, Any] | None:
        """Return the document stored under url, or None."""
        ...

    def put(self, url: str, doc: dict[str, Any], kind: str, *, local_id: str) -> None:
        """Store (insert or replace) a document with its kind and local identifier."""
        ...

    def delete(self, url: str) -> bool:
        """Remove the document stored under url; return whether it existed."""
        ...

    def list(self) -> builtins.list[ContextInfo]:
        """Return the metadata of every stored document."""
        ...


class MemoryContextCache:
    """In-process :class:`ContextCacheBackend` (the default; one per worker process)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[dict[str, Any], ContextInfo]] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> dict[str, Any] | None:
        """Return the document stored under url, or None."""
        entry = self._entries.get(url)
        return None if entry is None else entry[0]

    def put(self, url: str, doc: dict[str, Any], kind: str, *, local_id: str) -> None:
        """Store (insert or replace) a document; a replacement keeps the original creation time."""
        with self._lock:
            old = self._entries.get(url)
            created = old[1].created_at if old is not None else _utc_iso(time.time())
            self._entries[url] = (doc, ContextInfo(url=url, local_id=local_id, kind=kind, created_at=created))

    def delete(self, url: str) -> bool:
        """Remove the document stored under url; return whether it existed."""
        with self._lock:
            return self._entries.pop(url, None) is not None

    def list(self) -> builtins.list[ContextInfo]:
        """Return the metadata of every stored document, oldest first."""
        with self._lock:
            return [info for _, info in self._entries.values()]


@dataclass(frozen=True, slots=True)
class _Term:
    """One term definition of an active context."""

    iri: str
    prefix: bool  # usable as the prefix of a compact IRI


def _core_document() -> dict[str, Any]:
    """Load the core context shipped as package data."""
    text = resources.files("calanque.ngsild.contexts").joinpath(CORE_CONTEXT_FILE).read_bytes()
    return orjson.loads(text)


class _Builder:
    """Processes local contexts, in order, into a flat term table (simplified JSON-LD 1.1 algorithm)."""

    def __init__(self, core_terms: dict[str, _Term], core_vocab: str) -> None:
        self.terms: dict[str, _Term] = dict(core_terms)
        self.vocab = core_vocab
        self.user_vocab: str | None = None

    def reset(self, core_terms: dict[str, _Term], core_vocab: str) -> None:
        """Apply a null context: forget every user definition."""
        self.terms = dict(core_terms)
        self.vocab = core_vocab
        self.user_vocab = None

    def apply(self, local: dict[str, Any], where: str) -> None:
        """Apply one local context object (its terms may reference each other in any order)."""
        defined: dict[str, bool] = {}
        if "@vocab" in local:
            raw = local["@vocab"]
            if raw is None:
                self.user_vocab = None
            elif not isinstance(raw, str) or not raw:
                raise BadRequestData(f"{where}: '@vocab' must be an absolute IRI string, got {raw!r}")
            else:
                vocab = self._expand(raw, local, defined, where)
                if ":" not in vocab:
                    raise BadRequestData(f"{where}: '@vocab' must expand to an absolute IRI, got {raw!r}")
                self.vocab = self.user_vocab = vocab
        for term in local:
            if not term.startswith("@"):
                self._define(term, local, defined, where)

    def _define(self, term: str, local: dict[str, Any], defined: dict[str, bool], where: str) -> None:
        state = defined.get(term)
        if state is True:
            return
        if state is False:
            raise BadRequestData(f"{where}: cyclic IRI mapping involving term '{term}'")
        if not term:
            raise BadRequestData(f"{where}: an empty string cannot be defined as a term")
        defined[term] = False
        value = local[term]
        simple = isinstance(value, str)
        if value is None:
            self.terms.pop(term, None)
            defined[term] = True
            return
        if simple:
            value = {"@id": value}
        elif not isinstance(value, dict):
            raise BadRequestData(
                f"{where}: term '{term}' is mapped to a {type(value).__name__}; expected an IRI string "
                "or an object with '@id'"
            )
        for key in ("@type", "@language", "@direction"):
            if key in value and value[key] is not None and not isinstance(value[key], str):
                raise BadRequestData(f"{where}: '{key}' of term '{term}' must be a string, got {value[key]!r}")
        if "@prefix" in value and not isinstance(value["@prefix"], bool):
            raise BadRequestData(f"{where}: '@prefix' of term '{term}' must be true or false")
        raw_id = value["@reverse"] if "@reverse" in value else value.get("@id", ...)
        if raw_id is None:
            self.terms.pop(term, None)
            defined[term] = True
            return
        if raw_id is ...:
            iri = self._expand(term, local, defined, where) if ":" in term else self.vocab + term
        elif not isinstance(raw_id, str):
            raise BadRequestData(f"{where}: '@id' of term '{term}' must be a string, got {raw_id!r}")
        elif raw_id in _KEYWORDS:
            iri = raw_id
        else:
            iri = self._expand(raw_id, local, defined, where)
        prefix = bool(value.get("@prefix", simple and iri.endswith(_GEN_DELIMS)))
        self.terms[term] = _Term(iri, prefix)
        defined[term] = True

    def _expand(self, value: str, local: dict[str, Any], defined: dict[str, bool], where: str) -> str:
        """IRI expansion (vocabulary-relative) during context processing."""
        if value in _KEYWORDS:
            return value
        if value in local and not value.startswith("@") and defined.get(value) is not True:
            self._define(value, local, defined, where)
        known = self.terms.get(value)
        if known is not None:
            return known.iri
        colon = value.find(":")
        if colon > 0:
            prefix, suffix = value[:colon], value[colon + 1:]
            if prefix == "_" or suffix.startswith("//"):
                return value
            if prefix in local and defined.get(prefix) is not True:
                self._define(prefix, local, defined, where)
            pdef = self.terms.get(prefix)
            if pdef is not None and pdef.prefix:
                return pdef.iri + suffix
            return value
        return self.vocab + value


class ActiveContext:
    """A resolved @context: term-level expansion and compaction (implements ``TermContext``).

    ``expand`` turns a caller's term into an IRI: absolute IRIs stay, ``prefix:suffix`` with a
    known prefix expands, a defined term maps to its IRI, anything else is appended to the
    user's ``@vocab`` or, by default, to the NGSI-LD default-context namespace. ``compact``
    is its inverse and always round-trips (``expand(compact(iri)) == iri``).
    """

    __slots__ = ("source", "urls", "vocab", "_terms", "_prefixes", "_inverse",
                 "_exp", "_exp_vocab", "_cmp", "_cmp_vocab")

    def __init__(self, *, source: Any, urls: tuple[str, ...], terms: dict[str, _Term], vocab: str,
                 user_terms: frozenset[str]) -> None:
        self.source = source
        """The context value to echo back (Link header or body "@context")."""
        self.urls = urls
        """Every URL this context was built from (nested ones included; the core context excluded)."""
        self.vocab = vocab
        """The vocabulary mapping: the user's @vocab if any, else the NGSI-LD default-context IRI."""
        self._terms = {t: d.iri for t, d in terms.items()}
        self._prefixes = {t: d.iri for t, d in terms.items() if d.prefix and d.iri not in _KEYWORDS}
        inverse: dict[str, str] = {}
        # Preference: user terms over core terms, then the shortest, then the alphabetically first.
        for term in sorted(self._terms, key=lambda t: (t not in user_terms, len(t), t)):
            iri = self._terms[term]
            if iri not in _KEYWORDS:
                inverse.setdefault(iri, term)
        self._inverse = inverse
        self._exp: dict[str, str] = {}
        self._exp_vocab: dict[str, str] = {}
        self._cmp: dict[str, str] = {}
        self._cmp_vocab: dict[str, str] = {}

    # --- expansion ---------------------------------------------------------------------
    def expand(self, term: str) -> str:
        """Expand an entity type or attribute name to its IRI (default-context IRI if unknown)."""
        iri = self._exp.get(term)
        if iri is None:
            iri = self._expand(term, keywords=True)
            if len(self._exp) >= _MEMO_LIMIT:
                self._exp.clear()
            self._exp[term] = iri
        return iri

    def expand_vocab(self, term: str) -> str:
        """Expand a VocabProperty value (vocab-relative term) to an IRI; keyword aliases do not apply."""
        iri = self._exp_vocab.get(term)
        if iri is None:
            iri = self._expand(term, keywords=False)
            if len(self._exp_vocab) >= _MEMO_LIMIT:
                self._exp_vocab.clear()
            self._exp_vocab[term] = iri
        return iri

    def _expand(self, term: str, *, keywords: bool) -> str:
        mapped = self._terms.get(term)
        if mapped is not None and (keywords or mapped not in _KEYWORDS):
            return mapped
        colon = term.find(":")
        if colon > 0:
            prefix, suffix = term[:colon], term[colon + 1:]
            if prefix != "_" and not suffix.startswith("//"):
                base = self._prefixes.get(prefix)
                if base is not None:
                    return base + suffix
            return term
        return self.vocab + term

    # --- compaction --------------------------------------------------------------------
    def compact(self, iri: str) -> str:
        """Compact an IRI to a term of this context, a compact IRI, or return it unchanged."""
        term = self._cmp.get(iri)
        if term is None:
            term = self._compact(iri, keywords=True)
            if len(self._cmp) >= _MEMO_LIMIT:
                self._cmp.clear()
            self._cmp[iri] = term
        return term

    def compact_vocab(self, iri: str) -> str:
        """Compact a VocabProperty IRI back to a term."""
        term = self._cmp_vocab.get(iri)
        if term is None:
            term = self._compact(iri, keywords=False)
            if len(self._cmp_vocab) >= _MEMO_LIMIT:
                self._cmp_vocab.clear()
            self._cmp_vocab[iri] = term
        return term

    def _compact(self, iri: str, *, keywords: bool) -> str:
        term = self._inverse.get(iri)
        if term is not None:
            return term
        if iri.startswith(self.vocab):
            rest = iri[len(self.vocab):]
            if rest and self._expand(rest, keywords=keywords) == iri:
                return rest
        best: str | None = None
        best_key: tuple[int, int, str] | None = None
        for prefix, base in self._prefixes.items():
            if len(iri) > len(base) and iri.startswith(base):
                candidate = f"{prefix}:{iri[len(base):]}"
                key = (-len(base), len(candidate), candidate)
                if (best_key is None or key < best_key) and self._expand(candidate, keywords=keywords) == iri:
                    best, best_key = candidate, key
        return best if best is not None else iri

    def __repr__(self) -> str:
        return f"ActiveContext(source={self.source!r}, terms={len(self._terms)}, vocab={self.vocab!r})"


def load_preload_map(path: Path) -> dict[str, Path]:
    """Read a JSON object {"<context URL>": "<file path>"}; relative paths are relative to that file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the @context preload map {path}: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"the @context preload map {path} must be a JSON object of URL -> file path strings")
    return {url: (path.parent / file).resolve() for url, file in data.items()}


def _check_context_value(value: Any, where: str) -> None:
    """Raise BadRequestData unless value has the shape of an @context value."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if item is not None and not isinstance(item, str | dict):
            raise BadRequestData(
                f"{where}: an @context entry must be a URL string, an object or null, got {type(item).__name__}"
            )


class ContextResolver:
    """Resolves @context values into cached :class:`ActiveContext` objects and manages stored contexts."""

    def __init__(
        self,
        *,
        fetch_timeout: float = 5.0,
        max_bytes: int = 1_000_000,
        preload: Mapping[str, Path] | None = None,
        cache_backend: ContextCacheBackend | None = None,
        max_cached: int = 1024,
    ) -> None:
        self.fetch_timeout = fetch_timeout
        self.max_bytes = max_bytes
        self.backend: ContextCacheBackend = cache_backend if cache_backend is not None else MemoryContextCache()
        self._max_cached = max_cached
        self._created_at = _utc_iso(time.time())
        core_doc = _core_document()
        self._core_doc = core_doc
        builder = _Builder({}, DEFAULT_PREFIX)
        builder.apply(core_doc["@context"], "NGSI-LD core @context")
        self._core_terms = builder.terms
        self._core_vocab = builder.vocab
        self._lock = threading.Lock()
        self._active: OrderedDict[Any, ActiveContext] = OrderedDict()
        self._docs: dict[str, dict[str, Any]] = {}
        self._fetch_locks: dict[str, threading.Lock] = {}
        self._hits: dict[str, int] = {}
        self._last_use: dict[str, float] = {}
        for url, file in (preload or {}).items():
            self.preload_file(url, file)

    # --- resolution --------------------------------------------------------------------
    def resolve(self, context: str | list[Any] | dict[str, Any] | None) -> ActiveContext:
        """Resolve a request's @context (None: core context only) into a cached ActiveContext.

        Raises LdContextNotAvailable when a remote context cannot be obtained and
        BadRequestData when a context is structurally invalid.
        """
        key = _cache_key(context)
        active = self._active.get(key)
        if active is None:
            active = self._build(context)
            with self._lock:
                self._active[key] = active
                while len(self._active) > self._max_cached:
                    self._active.popitem(last=False)
        else:
            with self._lock:
                if key in self._active:
                    self._active.move_to_end(key)
        now = time.time()
        for url in active.urls:
            self._hits[url] = self._hits.get(url, 0) + 1
            self._last_use[url] = now
        self._hits[CORE_CONTEXT_URL] = self._hits.get(CORE_CONTEXT_URL, 0) + 1
        self._last_use[CORE_CONTEXT_URL] = now
        return active

    async def aresolve(self, context: str | list[Any] | dict[str, Any] | None) -> ActiveContext:
        """Async resolve: cached inputs answer inline, misses (possible fetches) run in a worker thread."""
        if _cache_key(context) in self._active:
            return self.resolve(context)
        return await asyncio.to_thread(self.resolve, context)

    @property
    def core(self) -> ActiveContext:
        """The active context of the core context alone."""
        return self.resolve(None)

    def _build(self, context: Any) -> ActiveContext:
        builder = _Builder(self._core_terms, self._core_vocab)
        urls: list[str] = []
        if context is not None:
            self._apply(builder, context, base=None, chain=(), urls=urls)
        final = dict(builder.terms)
        user_terms = frozenset(t for t in final if t not in self._core_terms)
        final.update(self._core_terms)  # the core context is applied last and wins
        vocab = builder.user_vocab if builder.user_vocab is not None else self._core_vocab
        return ActiveContext(source=CORE_CONTEXT_URL if context is None else context,
                             urls=tuple(dict.fromkeys(urls)), terms=final, vocab=vocab, user_terms=user_terms)

    def _apply(self, builder: _Builder, value: Any, *, base: str | None, chain: tuple[str, ...],
               urls: list[str]) -> None:
        where = f"@context at {chain[-1]}" if chain else "@context"
        _check_context_value(value, where)
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                builder.reset(self._core_terms, self._core_vocab)
            elif isinstance(item, str):
                url = urljoin(base, item) if base else item
                if url in CORE_CONTEXT_URLS:
                    continue
                if url in chain:
                    raise BadRequestData(f"recursive @context inclusion: {' -> '.join((*chain, url))}")
                if len(chain) >= _MAX_NESTING:
                    raise BadRequestData(f"@context nesting deeper than {_MAX_NESTING} levels at {url}")
                doc = self._document(url)
                urls.append(url)
                self._apply(builder, doc["@context"], base=url, chain=(*chain, url), urls=urls)
            else:
                if "@import" in item:
                    item = self._import(item, base=base, chain=chain, where=where)
                builder.apply(item, where)

    def _import(self, item: dict[str, Any], *, base: str | None, chain: tuple[str, ...],
                where: str) -> dict[str, Any]:
        target = item["@import"]
        if not isinstance(target, str):
            raise BadRequestData(f"{where}: '@import' must be a URL string, got {target!r}")
        url = urljoin(base, target) if base else target
        imported = self._core_doc if url in CORE_CONTEXT_URLS else self._document(url)
        inner = imported["@context"]
        if not isinstance(inner, dict):
            raise BadRequestData(f"{where}: the @context imported from {url} must be a single object")
        merged = {k: v for k, v in inner.items() if k != "@import"}
        merged.update((k, v) for k, v in item.items() if k != "@import")
        return merged

    # --- documents ---------------------------------------------------------------------
    def _document(self, url: str) -> dict[str, Any]:
        """Return the document of a context URL: memory, then backend, then a single download."""
        doc = self._docs.get(url)
        if doc is not None:
            return doc
        doc = self._stored(url)
        if doc is None:
            with self._lock:
                url_lock = self._fetch_locks.setdefault(url, threading.Lock())
            try:
                with url_lock:
                    doc = self._docs.get(url) or self._stored(url)
                    if doc is None:
                        doc = self._download(url)
                        self.backend.put(url, doc, KIND_CACHED, local_id=_cached_local_id(url))
            finally:
                with self._lock:
                    self._fetch_locks.pop(url, None)
        self._docs[url] = doc
        return doc

    def _stored(self, url: str) -> dict[str, Any] | None:
        """Find a document in the backend by URL, or by the local id of a broker-hosted URL."""
        doc = self.backend.get(url)
        if doc is None and JSONLD_CONTEXTS_PATH in url:
            info = self._find_info(url.rsplit(JSONLD_CONTEXTS_PATH, 1)[1])
            if info is not None and info.kind != KIND_CACHED:
                doc = self.backend.get(info.url)
        return doc

    def _download(self, url: str) -> dict[str, Any]:
        """Fetch a context document within fetch_timeout overall (connect, headers and body)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadRequestData(
                f"@context reference '{url}' is not an http(s) URL; give an absolute http:// or https:// URL "
                "or an inline object"
            )
        outcome: dict[str, Any] = {}
        deadline = time.monotonic() + self.fetch_timeout

        def work() -> None:
            try:
                outcome["doc"] = self._http_get(url, deadline)
            except LdContextNotAvailable as exc:
                outcome["error"] = exc
            except httpx.TimeoutException:
                outcome["error"] = _not_available(url, f"timed out after {self.fetch_timeout:g} s")
            except Exception as exc:  # any transport or decoding failure means "not available"
                outcome["error"] = _not_available(url, f"{type(exc).__name__}: {exc}")

        worker = threading.Thread(target=work, name="jsonld-context-fetch", daemon=True)
        worker.start()
        worker.join(self.fetch_timeout)
        if worker.is_alive():
            raise _not_available(url, f"no complete answer within {self.fetch_timeout:g} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["doc"]

    def _http_get(self, url: str, deadline: float) -> dict[str, Any]:
        timeout = httpx.Timeout(self.fetch_timeout)
        headers = {"Accept": "application/ld+json, application/json;q=0.9, */*;q=0.1"}
        with httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=5) as client:
            with client.stream("GET", url, headers=headers) as response:
                if not 200 <= response.status_code < 300:
                    raise _not_available(url, f"the server answered HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                    raise _not_available(url, f"the document is {declared} bytes, over the {self.max_bytes} limit")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise _not_available(url, f"the document is over the {self.max_bytes} bytes limit")
                    if time.monotonic() > deadline:
                        raise _not_available(url, f"no complete answer within {self.fetch_timeout:g} s")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise _not_available(url, f"the answer is not JSON ({exc})") from None
        if not isinstance(doc, dict) or "@context" not in doc:
            raise _not_available(url, 'the JSON document has no "@context" member')
        return {"@context": doc["@context"]}

    def preload_file(self, url: str, path: Path) -> None:
        """Load the context served at url from a local file (for offline deployments); never fetched then."""
        if url in CORE_CONTEXT_URLS:
            raise ValueError(f"{url} is the NGSI-LD core context, which is built in; do not preload it")
        try:
            doc = orjson.loads(Path(path).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ValueError(f"cannot preload the @context for {url} from {path}: {exc}") from exc
        if not isinstance(doc, dict) or "@context" not in doc:
            raise ValueError(f'cannot preload {path}: expected a JSON object with an "@context" member')
        doc = {"@context": doc["@context"]}
        self.backend.put(url, doc, KIND_CACHED, local_id=_cached_local_id(url))
        self._docs[url] = doc
        self._invalidate()

    def _invalidate(self, url: str | None = None) -> None:
        """Forget resolved contexts (all of them: any may include url) and the in-memory copy of url."""
        with self._lock:
            self._active.clear()
            if url is not None:
                self._docs.pop(url, None)

    # --- /jsonldContexts API -----------------------------------------------------------
    def _core_info(self) -> ContextInfo:
        return ContextInfo(url=CORE_CONTEXT_URL, local_id=CORE_CONTEXT_LOCAL_ID, kind=KIND_CACHED,
                           created_at=self._created_at,
                           extra_info={"builtIn": True, "aliases": sorted(CORE_CONTEXT_URLS - {CORE_CONTEXT_URL})})

    def _with_usage(self, info: ContextInfo) -> ContextInfo:
        """Add this process's usage counts to the stored metadata."""
        hits = self._hits.get(info.url, 0) + (info.number_of_hits or 0)
        last = self._last_use.get(info.url)
        last_usage = _utc_iso(last) if last is not None else None
        if info.last_usage is not None and (last_usage is None or info.last_usage > last_usage):
            last_usage = info.last_usage
        return replace(info, number_of_hits=hits, last_usage=last_usage)

    def _find_info(self, id_or_url: str) -> ContextInfo | None:
        if id_or_url in CORE_CONTEXT_URLS or id_or_url == CORE_CONTEXT_LOCAL_ID:
            return self._core_info()
        for info in self.backend.list():
            if id_or_url in (info.url, info.local_id):
                return info
        return None

    def _count_use(self, url: str) -> None:
        self._hits[url] = self._hits.get(url, 0) + 1
        self._last_use[url] = time.time()

    def list_contexts(self, details: bool = False, kind: str | None = None) -> list[Any]:
        """List stored contexts (clause 5.13.3): URLs, or detail objects when details is true."""
        if kind is not None and kind not in CONTEXT_KINDS:
            raise BadRequestData(f"unknown @context kind '{kind}'; expected one of {', '.join(CONTEXT_KINDS)}")
        infos = [self._core_info(), *self.backend.list()]
        selected = [i for i in infos if kind is None or i.kind == kind]
        if not details:
            return [i.url for i in selected]
        return [self._with_usage(i).to_json() for i in selected]

    def get_context(self, id_or_url: str, details: bool = False) -> dict[str, Any]:
        """Serve a stored context (clause 5.13.4): its document, or its metadata when details is true.

        The document itself is only served for "Hosted" and "ImplicitlyCreated" contexts;
        asking it for a "Cached" one raises OperationNotSupported (ask for details instead).
        """
        info = self._find_info(id_or_url)
        if info is None:
            raise ResourceNotFound(f"no @context with local id or URL '{id_or_url}' is stored by this broker")
        if details:
            body = self._with_usage(info).to_json()
        elif info.kind == KIND_CACHED:
            raise OperationNotSupported(
                f"the @context {info.url} is a cached copy of a remote document and is not served by this "
                "broker; fetch it from its URL, or ask for its metadata with details=true"
            )
        else:
            doc = self.backend.get(info.url)
            if doc is None:
                raise ResourceNotFound(f"the @context '{id_or_url}' was deleted")
            body = doc
        self._count_use(info.url)
        return body

    def add_hosted(self, context_doc: dict[str, Any], *, base_url: str) -> ContextInfo:
        """Store a client-supplied context (POST /jsonldContexts, clause 5.13.2) as kind "Hosted".

        Its URL is ``{base_url}/ngsi-ld/v1/jsonldContexts/{localId}``. Members other than
        "@context" are discarded. The context is validated (nested URLs fetched) first.
        """
        if not isinstance(context_doc, dict) or "@context" not in context_doc:
            raise BadRequestData('the payload must be a JSON object with an "@context" member')
        value = context_doc["@context"]
        self._validate(value)
        local_id = f"{_LOCAL_ID_PREFIX}{uuid.uuid4()}"
        return self._store_local({"@context": value}, local_id, KIND_HOSTED, base_url)

    def add_implicit(self, context: list[Any] | dict[str, Any], *, base_url: str) -> ContextInfo:
        """Store an inline or array @context as kind "ImplicitlyCreated" so it can be referenced by URL.

        Used where a single @context URL is required (e.g. a subscription's jsonldContext).
        The same content always gets the same local id, so repeated calls store it once.
        """
        if not isinstance(context, list | dict):
            raise BadRequestData("only an inline object or an array @context needs an implicitly created entry")
        self._validate(context)
        digest = orjson.dumps(context, option=orjson.OPT_SORT_KEYS).decode()
        local_id = f"{_LOCAL_ID_PREFIX}{uuid.uuid5(uuid.NAMESPACE_URL, 'implicit:' + digest)}"
        existing = self._find_info(local_id)
        if existing is not None:
            return existing
        return self._store_local({"@context": context}, local_id, KIND_IMPLICIT, base_url)

    def _validate(self, value: Any) -> None:
        if isinstance(value, str | list | dict):
            self.resolve(value)
        else:
            raise BadRequestData(f'"@context" must be a URL, an object or an array, got {type(value).__name__}')

    def _store_local(self, doc: dict[str, Any], local_id: str, kind: str, base_url: str) -> ContextInfo:
        url = f"{base_url.rstrip('/')}{JSONLD_CONTEXTS_PATH}{local_id}"
        self.backend.put(url, doc, kind, local_id=local_id)
        self._docs[url] = doc
        info = self._find_info(url)
        if info is None:
            raise RuntimeError(f"the @context cache backend did not keep {url} after storing it")
        return info

    def delete_context(self, id_or_url: str, reload: bool = False) -> None:
        """Delete, or with reload re-download, a stored context (clause 5.13.5).

        The core context cannot be deleted (BadRequestData); reloading it is a no-op since it
        is built in. Reload is only for "Cached" contexts; if the download fails the stored
        copy is kept and LdContextNotAvailable is raised.
        """
        if not id_or_url:
            raise BadRequestData("give the local id or URL of the @context to delete")
        info = self._find_info(id_or_url)
        if info is None:
            raise ResourceNotFound(f"no @context with local id or URL '{id_or_url}' is stored by this broker")
        if info.url == CORE_CONTEXT_URL:
            if reload:
                return
            raise BadRequestData("the NGSI-LD core @context is built into the broker and cannot be deleted")
        if reload:
            if info.kind != KIND_CACHED:
                raise BadRequestData(f"only Cached @contexts can be reloaded; {info.url} is {info.kind}")
            doc = self._download(info.url)
            self._check_structure(doc, info.url)
            self.backend.put(info.url, doc, KIND_CACHED, local_id=info.local_id)
            self._invalidate(info.url)
            return
        self.backend.delete(info.url)
        self._invalidate(info.url)

    def _check_structure(self, doc: dict[str, Any], url: str) -> None:
        """Check the inline parts of a downloaded document; report problems as LdContextNotAvailable."""
        builder = _Builder(self._core_terms, self._core_vocab)
        value = doc["@context"]
        try:
            _check_context_value(value, f"@context at {url}")
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and "@import" not in item:
                    builder.apply(item, f"@context at {url}")
        except BadRequestData as exc:
            raise _not_available(url, f"the downloaded @context is invalid: {exc.detail}") from None


def _cache_key(context: Any) -> Any:
    """The resolve-cache key of an @context value: the URL itself, or its canonical JSON bytes."""
    if context is None:
        return CORE_CONTEXT_URL
    if isinstance(context, str):
        return context
    if isinstance(context, list | dict):
        try:
            return orjson.dumps(context, option=orjson.OPT_SORT_KEYS)
        except TypeError as exc:
            raise BadRequestData(f"the @context is not valid JSON: {exc}") from None
    raise BadRequestData(f"@context must be a URL string, an object or an array, got {type(context).__name__}")


def _cached_local_id(url: str) -> str:
    """Deterministic local id of a cached URL (identical in every worker process)."""
    return f"{_LOCAL_ID_PREFIX}{uuid.uuid5(uuid.NAMESPACE_URL, url)}"


def _not_available(url: str, reason: str) -> LdContextNotAvailable:
    return LdContextNotAvailable(
        f"could not obtain the JSON-LD @context at {url}: {reason}. Check that the broker can reach this URL "
        'and that it serves a JSON document with an "@context" member, or preload it from a local file.'
    )
