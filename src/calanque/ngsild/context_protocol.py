"""The interface of a resolved (active) JSON-LD context, as used by parsing and rendering."""

from __future__ import annotations

from typing import Protocol


class TermContext(Protocol):
    """Expands caller terms to IRIs and compacts IRIs back to the caller's terms."""

    def expand(self, term: str) -> str:
        """Expand an entity type or attribute name to its IRI (default-context IRI if unknown)."""
        ...

    def compact(self, iri: str) -> str:
        """Compact an IRI to the shortest term of this context, or return it unchanged."""
        ...

    def expand_vocab(self, term: str) -> str:
        """Expand a VocabProperty value (vocab-relative term) to an IRI."""
        ...

    def compact_vocab(self, iri: str) -> str:
        """Compact a VocabProperty IRI back to a term."""
        ...
