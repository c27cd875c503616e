"""Entity type selection (ETSI GS CIM 009, clause 4.17): the ``type`` parameter of queries.

Syntax::

    selection := type | selection (',' | '|') selection | selection ';' selection | '(' selection ')'

``,`` and ``|`` mean OR, ``;`` means AND (the entity has both types) and binds tighter than OR.
A type is a term, compact IRI or IRI, expanded with the caller's context.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lark import Lark, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from calanque.ngsild.errors import BadRequestData

MAX_TYPES_LENGTH = 4096
MAX_TYPES_DEPTH = 32

_GRAMMAR = r"""
?start: disj
?disj: conj (_OR conj)*
?conj: _atom (_AND _atom)*
_atom: TYPE | _LPAR disj _RPAR
_OR: "|" | ","
_AND: ";"
_LPAR: "("
_RPAR: ")"
TYPE: /[^\s,;|()]+/
%ignore /\s+/
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)

_TERMINAL_NAMES = {
    "_OR": "',' or '|'",
    "_AND": "';'",
    "_LPAR": "'('",
    "_RPAR": "')'",
    "TYPE": "an entity type",
    "$END": "the end of the selection",
}


class TypeExpr(ABC):
    """A parsed entity type selection."""

    @abstractmethod
    def iris(self) -> set[str]:
        """All type IRIs the selection mentions."""


@dataclass(frozen=True)
class TypeName(TypeExpr):
    """The entity has this type."""

    iri: str

    def iris(self) -> set[str]:
        """All type IRIs the selection mentions."""
        return {self.iri}


@dataclass(frozen=True)
class TypeAnd(TypeExpr):
    """The entity satisfies every item."""

    items: tuple[TypeExpr, ...]

    def iris(self) -> set[str]:
        """All type IRIs the selection mentions."""
        return set().union(*(item.iris() for item in self.items))


@dataclass(frozen=True)
class TypeOr(TypeExpr):
    """The entity satisfies at least one item."""

    items: tuple[TypeExpr, ...]

    def iris(self) -> set[str]:
        """All type IRIs the selection mentions."""
        return set().union(*(item.iris() for item in self.items))


def parse_types(text: str, expand: Callable[[str], str]) -> TypeExpr:
    """Parse a type selection, expanding every type name with ``expand``."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequestData(
            "the type selection is empty: expected types such as 'Building' or 'A,B' or 'A;B'"
        )
    if len(text) > MAX_TYPES_LENGTH:
        raise BadRequestData(
            f"the type selection is {len(text)} characters long; at most {MAX_TYPES_LENGTH} are allowed"
        )
    depth = 0
    for pos, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if depth > MAX_TYPES_DEPTH:
            raise BadRequestData(
                f"the type selection nests parentheses more than {MAX_TYPES_DEPTH} levels deep "
                f"(at position {pos})"
            )
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise BadRequestData(_syntax_message(text, exc)) from None
    return _build(tree, expand)


def _build(node: Tree | Any, expand: Callable[[str], str]) -> TypeExpr:
    """Convert the lark tree (or a TYPE token) into a TypeExpr."""
    if isinstance(node, Tree):
        items = tuple(_build(child, expand) for child in node.children)
        return TypeOr(items) if node.data == "disj" else TypeAnd(items)
    return TypeName(expand(str(node)))


def _syntax_message(text: str, exc: UnexpectedInput) -> str:
    """Describe a syntax error: where, what was found and what was expected."""
    if isinstance(exc, UnexpectedEOF):
        pos, found, expected = len(text), "the end of the selection", set(exc.expected)
    elif isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            pos, found = len(text), "the end of the selection"
        else:
            pos, found = exc.token.start_pos or 0, repr(str(exc.token.value))
        expected = set(exc.expected)
    elif isinstance(exc, UnexpectedCharacters):
        pos, found, expected = exc.pos_in_stream, repr(text[exc.pos_in_stream]), set(exc.allowed or ())
    else:  # pragma: no cover - lark raises only the three subclasses above
        pos, found, expected = 0, "input", set()
    wanted = ", ".join(sorted({_TERMINAL_NAMES.get(name, name) for name in expected}))
    near = text[max(0, pos - 15) : pos + 15]
    return f"Invalid type selection at position {pos} (near {near!r}): unexpected {found}; expected {wanted}"


def types_match(expr: TypeExpr, entity_types: list[str]) -> bool:
    """Whether an entity with these (expanded) types satisfies the selection."""
    if isinstance(expr, TypeName):
        return expr.iri in entity_types
    if isinstance(expr, TypeAnd):
        return all(types_match(item, entity_types) for item in expr.items)
    if isinstance(expr, TypeOr):
        return any(types_match(item, entity_types) for item in expr.items)
    raise TypeError(f"not a type selection: {expr!r}")


def types_to_sql(expr: TypeExpr, has_type: Callable[[str], tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    """Combine the per-type SQL predicates from ``has_type(iri)`` with AND/OR into one predicate."""
    if isinstance(expr, TypeName):
        sql, params = has_type(expr.iri)
        return f"({sql})", list(params)
    if isinstance(expr, TypeAnd | TypeOr):
        joiner = " AND " if isinstance(expr, TypeAnd) else " OR "
        parts: list[str] = []
        params = []
        for item in expr.items:
            sql, item_params = types_to_sql(item, has_type)
            parts.append(sql)
            params += item_params
        return "(" + joiner.join(parts) + ")", params
    raise TypeError(f"not a type selection: {expr!r}")
