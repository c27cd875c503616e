"""A JSON-LD context cache kept in the store, so every worker process shares fetched contexts."""

from __future__ import annotations

from typing import Any

from calanque.ngsild.jsonld import ContextInfo
from calanque.store.base import Store


class StoreContextCache:
    """:class:`calanque.ngsild.jsonld.ContextCacheBackend` over the store's jsonld_contexts table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, url: str) -> dict[str, Any] | None:
        """Return the cached document stored under url, or None."""
        with self.store.session() as s:
            row = s.context_get(url)
        return None if row is None or row["url"] != url else row["doc"]

    def put(self, url: str, doc: dict[str, Any], kind: str, *, local_id: str) -> None:
        """Store (insert or replace) a document with its kind and local identifier."""
        with self.store.session(write=True) as s:
            s.context_put(url, doc, kind, local_id)

    def delete(self, url: str) -> bool:
        """Forget a stored document; return whether it existed."""
        with self.store.session(write=True) as s:
            return s.context_delete(url)

    def list(self) -> list[ContextInfo]:
        """Return the metadata of every stored document."""
        with self.store.session() as s:
            rows = s.context_list()
        return [
            ContextInfo(url=r["url"], local_id=r["localId"], kind=r["kind"], created_at=r["createdAt"])
            for r in rows
        ]
