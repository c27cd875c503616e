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


class PinnedTerm:
    """A TermContext that maps one placeholder term to a given IRI and defers everything else.

    Used to parse a single attribute whose IRI is already known (from a URL path) with the
    ordinary attribute parser.
    """

    def __init__(self, inner: TermContext, term: str, iri: str) -> None:
        self.inner, self.term, self.iri = inner, term, iri

    def expand(self, term: str) -> str:
        """Expand, mapping the placeholder to the pinned IRI."""
        return self.iri if term == self.term else self.inner.expand(term)

    def compact(self, iri: str) -> str:
        """Compact through the inner context."""
        return self.inner.compact(iri)

    def expand_vocab(self, term: str) -> str:
        """Expand a vocab value through the inner context."""
        return self.inner.expand_vocab(term)

    def compact_vocab(self, iri: str) -> str:
        """Compact a vocab IRI through the inner context."""
        return self.inner.compact_vocab(iri)
