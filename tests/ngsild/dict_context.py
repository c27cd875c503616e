"""A small hand-written TermContext for the payload tests: a dict of terms + the default prefix."""

from __future__ import annotations

import json
from pathlib import Path

from calanque.ngsild.canonical import DEFAULT_PREFIX, NGSI_LD

SDM = Path("/work/shared/reference/smart-data-models")
CORE_TERMS = {name: NGSI_LD + name for name in ("location", "observationSpace", "operationSpace")}


class DictContext:
    """Expands terms with a dict (falling back to the default-context prefix); compacts the reverse way."""

    def __init__(self, terms: dict[str, str] | None = None) -> None:
        self.terms = {**CORE_TERMS, **(terms or {})}
        self.inverse: dict[str, str] = {}
        for term, iri in sorted(self.terms.items(), key=lambda kv: (len(kv[0]), kv[0])):
            self.inverse.setdefault(iri, term)

    def expand(self, term: str) -> str:
        """Expand a term; absolute IRIs pass through."""
        if term.startswith(("http://", "https://", "urn:")):
            return term
        return self.terms.get(term, DEFAULT_PREFIX + term)

    def compact(self, iri: str) -> str:
        """Compact an IRI to its term, stripping the default prefix."""
        if iri in self.inverse:
            return self.inverse[iri]
        if iri.startswith(DEFAULT_PREFIX):
            return iri[len(DEFAULT_PREFIX):]
        return iri

    def expand_vocab(self, term: str) -> str:
        """Vocab terms expand like other terms here."""
        return self.expand(term)

    def compact_vocab(self, iri: str) -> str:
        """Vocab IRIs compact like other IRIs here."""
        return self.compact(iri)


def sdm_context(name: str) -> DictContext:
    """The DictContext of a smart-data-models context file (e.g. 'Environment')."""
    data = json.loads((SDM / f"context-{name}.jsonld").read_text())["@context"]
    return DictContext({k: v for k, v in data.items() if isinstance(v, str)})


def sdm_example(model: str) -> dict:
    """The normalized example payload of a smart data model, as stored in the reference folder."""
    return json.loads((SDM / model / "example-normalized.jsonld").read_text())
