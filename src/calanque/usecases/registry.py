"""Use-case discovery: each use case is one folder that declares what it adds to the platform.

A use-case folder holds a ``usecase.py`` module defining ``USECASE``, a :class:`UseCase`.
The built-in ones are the sub-packages of :mod:`calanque.usecases` that hold a
``usecase.py`` (noise, waste, water, mobility, lighting). Others are found without touching the core, in this order:

* folders named in ``Settings.usecase_paths`` (``CALANQUE_USECASE_PATHS``, separated by
  ``os.pathsep``): each folder is a use case, imported as a package so that its modules can
  import one another relatively;
* installed distributions exposing the ``calanque.usecases`` entry-point group (the entry
  point names a ``UseCase`` object).

The application mounts each use case's router under ``/api/v1/<name>`` and lists every use
case at ``GET /api/v1/usecases``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ENTRY_POINT_GROUP = "calanque.usecases"
_NAME = re.compile(r"[a-z][a-z0-9-]{1,31}")
_PUBLIC_PATH = re.compile(r"(/(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z0-9_.\-]+))+")


class UseCaseError(ValueError):
    """A use-case folder cannot be loaded or declares something invalid; the message says which."""


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator a use case computes: a name, what it means, its unit and where to get it."""

    name: str
    description: str
    unit: str | None = None
    endpoint: str | None = None  # path under /api/v1/<usecase>, e.g. "/{entityId}/indicators"


@dataclass(frozen=True, slots=True)
class Publication:
    """An entity type a use case publishes by default, with the attributes anyone may read.

    Every other attribute of the type stays private (device links, internal settings…). These are
    defaults: the platform applies them to the default tenant once, and a tenant's admins publish and
    unpublish at will (``calanque publication``, ``/api/v1/publication``; docs/security.md).
    """

    entity_type: str  # a term of the core context, one of the use case's entity types
    attributes: tuple[str, ...]  # attribute terms; publishing one publishes its sub-properties too


@dataclass(frozen=True, slots=True)
class Threshold:
    """A default alert threshold; operators may override it per asset."""

    name: str
    value: float
    unit: str | None
    description: str


@dataclass(slots=True)
class Enrichment:
    """What an ingestion-time enricher sees for one uplink feeding one entity of its use case.

    ``current`` is the canonical entity before this uplink (None when the uplink creates it);
    ``attrs`` the new attribute instances keyed by expanded IRI (see calanque.ngsild.canonical);
    ``get_entity`` reads another entity of the same tenant in the same transaction (a container
    model, a station's settings). The enricher returns extra instances to write, keyed the same way
    (e.g. ``fillingLevel`` computed from a distance and the container model's geometry).
    """

    tenant: str
    entity_id: str
    entity_type: str  # the device's entity type term, e.g. "WasteContainer"
    current: dict | None
    attrs: dict[str, list[dict]]
    observed_at: datetime
    get_entity: Callable[[str], dict | None]


Enricher = Callable[[Enrichment], dict[str, list[dict]]]

# Levels of an asset on the department home map, each drawn in its own colour by the web UI.
MAP_LEVELS = ("ok", "info", "warn", "high", "bad", "off", "silent", "unknown")


@dataclass(frozen=True, slots=True)
class MapState:
    """How one asset shows on the department home map and whether it needs attention today.

    ``label`` is an English message with ``{name}`` placeholders filled from ``params`` (the web UI
    translates it, so add it to the UI catalogues); ``level`` is one of MAP_LEVELS.
    """

    level: str
    label: str
    params: dict[str, Any] = field(default_factory=dict)
    attention: bool = False


@dataclass(slots=True)
class MapContext:
    """What a map-state hook may use besides the entity: the tenant, the time, and a read session."""

    tenant: str
    now: datetime
    session: Any  # a calanque.store.base.Session open for reading (history, related entities)
    cache: dict[str, Any] = field(default_factory=dict)  # shared by the hooks during one map computation


MapStateHook = Callable[[dict, MapContext], MapState | None]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A use case's page at ``/usecases/<name>``, made of files in the use case's own folder.

    ``folder`` holds ``template`` (a Jinja2 fragment: the page's content, rendered inside the UI's
    frame with ``_``, ``usecase`` and ``user``), ``script`` (its JavaScript, served at
    ``/_static/usecases/<name>/<script>``; it gets ``Calanque`` and ``CalanqueDashboards``), and
    optionally ``i18n/<lang>.po`` catalogues for its own texts. ``styles`` are extra CSS files of
    the folder. See ``src/calanque/web/README.md``.
    """

    folder: Path
    template: str = "dashboard.html"
    script: str = "dashboard.js"
    styles: tuple[str, ...] = ()

    def files(self) -> tuple[str, ...]:
        """The files of the folder a browser may fetch (the script and the styles)."""
        return (self.script, *self.styles)


@dataclass(frozen=True, slots=True)
class UseCase:
    """What one use case adds: entity types, device models, indicators, thresholds, publications, API."""

    name: str  # URL segment: /api/v1/<name>
    title: str
    description: str
    entity_types: tuple[str, ...]  # Smart Data Models types
    device_models: tuple[str, ...] = ()  # codec names of the devices it accepts
    indicators: tuple[Indicator, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    publishes: tuple[Publication, ...] = ()  # entity types and attributes public by default
    public_paths: tuple[str, ...] = ()  # GET paths under /api/v1/<name> anonymous callers may use
    router: Callable[[], Any] | None = None  # returns a FastAPI APIRouter, mounted at /api/v1/<name>
    enrich: Enricher | None = None  # ingestion-time derivations for uplinks feeding its entity types
    cli: Any = None  # a click.Group, mounted as `calanque <name> …` (imports, exports, reports)
    # the state of one canonical entity of its types on the home map (None: not an asset to draw)
    map_state: MapStateHook | None = None
    dashboard: Dashboard | None = None  # its department dashboard page (files in its folder)
    source: str = field(default="builtin", compare=False)

    def describe(self) -> dict[str, Any]:
        """A JSON description of the use case, for GET /api/v1/usecases."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "entityTypes": list(self.entity_types),
            "deviceModels": list(self.device_models),
            "indicators": [
                {"name": i.name, "description": i.description, "unit": i.unit,
                 "endpoint": f"/api/v1/{self.name}{i.endpoint}" if i.endpoint else None}
                for i in self.indicators
            ],
            "thresholds": [
                {"name": t.name, "value": t.value, "unit": t.unit, "description": t.description}
                for t in self.thresholds
            ],
            "publishes": [{"entityType": p.entity_type, "attributes": list(p.attributes)} for p in self.publishes],
            "publicPaths": [f"/api/v1/{self.name}{p}" for p in self.public_paths],
            "source": self.source,
        }


def _check(usecase: Any, where: str) -> UseCase:
    if not isinstance(usecase, UseCase):
        raise UseCaseError(f"{where}: USECASE must be a calanque.usecases.registry.UseCase, "
                           f"got {type(usecase).__name__}")
    if not _NAME.fullmatch(usecase.name):
        raise UseCaseError(f"{where}: use-case name {usecase.name!r} must be 2-32 lower-case letters, digits or '-'")
    if not usecase.entity_types:
        raise UseCaseError(f"{where}: use case '{usecase.name}' declares no entity type")
    for item in usecase.publishes:
        if not isinstance(item, Publication):
            raise UseCaseError(f"{where}: publishes lists Publication(entity_type, attributes) items, got {item!r}")
        if item.entity_type not in usecase.entity_types:
            raise UseCaseError(f"{where}: use case '{usecase.name}' publishes {item.entity_type!r}, which is not "
                               f"one of its entity types ({', '.join(usecase.entity_types)})")
        if not item.attributes or not all(isinstance(a, str) and a for a in item.attributes):
            raise UseCaseError(f"{where}: the publication of {item.entity_type} needs attribute names")
    for path in usecase.public_paths:
        if not isinstance(path, str) or not _PUBLIC_PATH.fullmatch(path):
            raise UseCaseError(f"{where}: public path {path!r} must start with '/' and hold only literal "
                               "segments and {parameter} segments, e.g. '/{counterId}/display'")
    if usecase.dashboard is not None:
        board = usecase.dashboard
        if not isinstance(board, Dashboard):
            raise UseCaseError(f"{where}: dashboard must be a calanque.usecases.registry.Dashboard, got {board!r}")
        for file in (board.template, *board.files()):
            if "/" in file or "\\" in file or not (Path(board.folder) / file).is_file():
                raise UseCaseError(f"{where}: the dashboard of use case '{usecase.name}' names {file!r}, which is not "
                                   f"a file of its folder {board.folder}")
    return usecase


def builtin_names() -> list[str]:
    """Names of the sub-packages of calanque.usecases that declare a use case, sorted."""
    root = Path(__file__).parent
    return sorted(p.parent.name for p in root.glob("*/usecase.py"))


def _load_builtin(name: str) -> UseCase:
    module = importlib.import_module(f"calanque.usecases.{name}.usecase")
    return _check(getattr(module, "USECASE", None), f"calanque.usecases.{name}")


def load_folder(folder: str | Path) -> UseCase:
    """Import a use case from a folder outside the package (a ``usecase.py`` inside it)."""
    path = Path(folder).expanduser().resolve()
    if not (path / "usecase.py").is_file():
        raise UseCaseError(f"use-case folder {path} has no usecase.py")
    package = f"calanque_usecase_{re.sub(r'[^0-9a-zA-Z_]', '_', path.name)}"
    if package not in sys.modules:
        init = path / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            package, init if init.is_file() else path / "usecase.py", submodule_search_locations=[str(path)]
        )
        if spec is None or spec.loader is None:
            raise UseCaseError(f"cannot import use-case folder {path}")
        pkg = importlib.util.module_from_spec(spec)
        sys.modules[package] = pkg
        if init.is_file():
            try:
                spec.loader.exec_module(pkg)
            except Exception as err:  # a plugin's import error must name the folder
                del sys.modules[package]
                raise UseCaseError(f"use-case folder {path}: {type(err).__name__}: {err}") from err
    try:
        module = importlib.import_module(f"{package}.usecase")
    except Exception as err:
        raise UseCaseError(f"use-case folder {path}: {type(err).__name__}: {err}") from err
    usecase = _check(getattr(module, "USECASE", None), str(path))
    return UseCase(**{**{f: getattr(usecase, f) for f in UseCase.__dataclass_fields__}, "source": str(path)})


def _entry_points() -> Iterable[UseCase]:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as err:
            raise UseCaseError(f"entry point {ep.name} ({ep.value}): {type(err).__name__}: {err}") from err
        yield _check(obj, f"entry point {ep.name}")


def discover(paths: Sequence[str | Path] = ()) -> list[UseCase]:
    """Every use case: the built-in ones, then the folders in ``paths``, then entry points.

    Raises UseCaseError when two use cases share a name or one cannot be loaded.
    """
    found: list[UseCase] = [_load_builtin(n) for n in builtin_names()]
    found += [load_folder(p) for p in paths]
    found += list(_entry_points())
    seen: dict[str, UseCase] = {}
    for uc in found:
        if uc.name in seen:
            raise UseCaseError(f"two use cases are named '{uc.name}': {seen[uc.name].source} and {uc.source}")
        seen[uc.name] = uc
    return found


def parse_paths(value: str | None) -> list[str]:
    """Split a CALANQUE_USECASE_PATHS value (os.pathsep-separated) into folders."""
    import os

    return [p for p in (value or "").split(os.pathsep) if p.strip()]
