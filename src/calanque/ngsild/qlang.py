"""The NGSI-LD query language ``q`` (ETSI GS CIM 009, clause 4.9): parser, evaluator, SQL compiler.

One parsed expression (:class:`QExpr`) is evaluated three ways with the same semantics: in
Python over a canonical entity (:func:`q_matches`), and compiled to a SQL boolean expression
over the JSON document column for SQLite or PostgreSQL (:func:`q_to_sql`).

Syntax::

    q        := term | q ';' q | q '|' q | '(' q ')'      ; ';' (AND) binds tighter than '|' (OR)
    term     := path                       attribute (path) exists
              | '!' path                   attribute (path) does not exist
              | path ('=='|'!=') value | value ',' value ... | comparable '..' comparable
              | path ('>'|'>='|'<'|'<=') comparable
              | path ('~='|'!~=') "regex" | unquoted-regex
    path     := name ('.' name)* ('[' key ']')*
    value    := comparable | true | false | URI
    comparable := number | "string" | date-time | date | time

Paths: the first name is the attribute, further names are (nested) sub-attributes, except a
final ``observedAt``/``unitCode``/``datasetId``/``createdAt``/``modifiedAt`` which addresses that
member of the instance. ``[key]`` steps into a compound value (keys are not expanded).

Semantics of a comparison term: every instance of the attribute (all datasetIds) is looked at;
its *targeted values* are the member that carries the value for its type (``value``,
``object``, ``vocab``, ``valueList``, ``objectList``, ``json``; for a LanguageProperty every value
of ``languageMap``), or the addressed core member, or the value reached through the keys. A
targeted JSON array contributes each of its elements, anything else contributes itself; an
element ``{"@value": v, ...}`` stands for ``v``. The term matches when at least one element
satisfies the test. The negated operators ``!=`` and ``!~=`` test the negation per element, so
they need the attribute to exist.

Typing: a number literal equals/orders only JSON numbers, a quoted string, URI, date or time
literal only JSON strings (by code point order), ``true``/``false`` only JSON booleans, and an
unquoted date-time only strings that are well-formed UTC-offset date-times (years 1000-9998),
compared as instants. Different types are never equal, so ``!=`` matches them. Regular
expressions use Python :mod:`re` search semantics in Python and SQLite and POSIX ARE (``~``) in
PostgreSQL; the common subset (classes, anchors, quantifiers, groups, alternation) agrees.
"""

from __future__ import annotations

import math
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Literal

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from calanque.ngsild.canonical import VALUE_MEMBER, parse_ts
from calanque.ngsild.errors import BadRequestData

MAX_Q_LENGTH = 4096
MAX_Q_DEPTH = 32

# Members of an instance that a path may address by name after the attribute.
PATH_MEMBERS = frozenset({"observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt"})

# A stored string is a date-time when it matches this exactly: a valid calendar date, a time
# with seconds, an optional 1-6 digit fraction and an explicit UTC offset within +-15:59.
_YEAR = r"(?!9999)[1-9][0-9]{3}"
_LEAP_YEAR = r"(?:[1-9][0-9](?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)"
_DATE = (
    rf"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    rf"|{_LEAP_YEAR}-02-29)"
)
_TIME = r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?(?:Z|[+-](?:0[0-9]|1[0-5]):[0-5][0-9])"
STORED_DATETIME_PATTERN = f"^{_DATE}{_TIME}$"
_STORED_DATETIME = re.compile(STORED_DATETIME_PATTERN)

_GRAMMAR = r"""
?start: disj
?disj: conj (_OR conj)*
?conj: _atom (_AND _atom)*
_atom: term | _LPAR disj _RPAR
term: path                          -> exists
    | _NOT path                     -> not_exists
    | path ORDER_OP comparable      -> order
    | path EQ_OP eq_value           -> equality
    | path PATTERN_OP pattern       -> pattern
path: NAME (_DOT NAME)* (_LSQB KEY _RSQB)*
eq_value: value (_COMMA value)*     -> value_list
        | comparable _DOTS comparable -> value_range
?value: comparable | TRUE | FALSE | URI
?comparable: NUMBER | STRING | DATETIME | DATE | TIME
?pattern: STRING | RAW_REGEX

_OR: "|"
_AND: ";"
_LPAR: "("
_RPAR: ")"
_NOT: "!"
_DOT: "."
_DOTS: ".."
_LSQB: "["
_RSQB: "]"
_COMMA: ","
EQ_OP: /==|!=/
ORDER_OP: />=|<=|>|</
PATTERN_OP: /~=|!~=/
NAME: /[^\W\d][\w\-:]*/
KEY: /[^\[\]"\\\s;|()=<>!~,]+/
TRUE: "true"
FALSE: "false"
URI.6: /[A-Za-z][A-Za-z0-9+.\-]*:[^\s;|(),"\[\]]+/
DATETIME.5: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}(:?\d{2})?)?/
DATE.4: /\d{4}-\d{2}-\d{2}/
TIME.4: /\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?/
NUMBER.3: /-?\d+(\.\d+)?([eE][+-]?\d+)?/
STRING: /"(?:[^"\\]|\\.)*"/s
RAW_REGEX: /[^;|()"\s]+/
%ignore /\s+/
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)

_TERMINAL_NAMES = {
    "_OR": "'|'",
    "_AND": "';'",
    "_LPAR": "'('",
    "_RPAR": "')'",
    "_NOT": "'!'",
    "_DOT": "'.'",
    "_DOTS": "'..'",
    "_LSQB": "'['",
    "_RSQB": "']'",
    "_COMMA": "','",
    "EQ_OP": "'==' or '!='",
    "ORDER_OP": "'>', '>=', '<' or '<='",
    "PATTERN_OP": "'~=' or '!~='",
    "NAME": "an attribute name",
    "KEY": "a compound-value key",
    "TRUE": "true",
    "FALSE": "false",
    "URI": "a URI",
    "DATETIME": "a date-time",
    "DATE": "a date",
    "TIME": "a time",
    "NUMBER": "a number",
    "STRING": 'a "quoted string"',
    "RAW_REGEX": "a regular expression",
    "$END": "the end of the query",
}


@dataclass(frozen=True)
class AttrPath:
    """An attribute path: attribute IRI, sub-attribute IRIs, optional core member, compound keys."""

    attr: str
    subs: tuple[str, ...] = ()
    member: str | None = None
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class QValue:
    """A typed literal; a date-time is held as its zero-padded canonical UTC text."""

    kind: Literal["number", "text", "datetime", "boolean"]
    value: int | float | str | bool


class QExpr:
    """Base class of parsed q expressions."""


@dataclass(frozen=True)
class QAnd(QExpr):
    """All sub-expressions match."""

    items: tuple[QExpr, ...]


@dataclass(frozen=True)
class QOr(QExpr):
    """At least one sub-expression matches."""

    items: tuple[QExpr, ...]


@dataclass(frozen=True)
class QExists(QExpr):
    """The path exists (or, negated, does not exist) in the entity."""

    path: AttrPath
    negated: bool = False


@dataclass(frozen=True)
class EqualsAny:
    """Element equals one of the values."""

    values: tuple[QValue, ...]


@dataclass(frozen=True)
class InRange:
    """Element lies in the closed interval [low, high] (both of the same kind)."""

    low: QValue
    high: QValue


@dataclass(frozen=True)
class Ordered:
    """Element compares to the value with ``op`` (one of > >= < <=)."""

    op: str
    value: QValue


@dataclass(frozen=True)
class Matches:
    """Element is a string in which the regular expression finds a match."""

    pattern: str


Test = EqualsAny | InRange | Ordered | Matches


@dataclass(frozen=True)
class QTerm(QExpr):
    """Some targeted element of the path satisfies the test (or, negated, fails it)."""

    path: AttrPath
    test: Test
    negated: bool = False


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_q(text: str, expand: Callable[[str], str]) -> QExpr:
    """Parse a q expression, expanding attribute and sub-attribute names with ``expand``."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequestData("q is empty: expected a query such as 'temperature>20;status==\"on\"'")
    if len(text) > MAX_Q_LENGTH:
        raise BadRequestData(f"q is {len(text)} characters long; at most {MAX_Q_LENGTH} are allowed")
    if "\x00" in text:
        raise BadRequestData(f"q contains a NUL character at position {text.index(chr(0))}")
    _check_depth(text)
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise BadRequestData(_syntax_message(text, exc)) from None
    return _Builder(text, expand).expr(tree)


def _check_depth(text: str) -> None:
    """Reject parentheses nested deeper than MAX_Q_DEPTH (quoted strings are skipped)."""
    depth = 0
    in_string = False
    escaped = False
    for pos, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "(":
            depth += 1
            if depth > MAX_Q_DEPTH:
                raise BadRequestData(
                    f"q nests parentheses more than {MAX_Q_DEPTH} levels deep (at position {pos})"
                )
        elif char == ")":
            depth = max(depth - 1, 0)


def _syntax_message(text: str, exc: UnexpectedInput) -> str:
    """Describe a lark syntax error: where, what was found and what was expected."""
    if isinstance(exc, UnexpectedEOF):
        pos, found, expected = len(text), "the end of the query", set(exc.expected)
    elif isinstance(exc, UnexpectedToken):
        pos = exc.token.start_pos if exc.token.start_pos is not None else len(text)
        if exc.token.type == "$END":
            pos, found = len(text), "the end of the query"
        elif exc.token.type in ("RAW_REGEX", "KEY"):  # catch-all lexemes: show the first character
            found = repr(str(exc.token.value)[0])
        else:
            found = repr(str(exc.token.value))
        expected = set(exc.expected)
    elif isinstance(exc, UnexpectedCharacters):
        pos, found, expected = exc.pos_in_stream, repr(text[exc.pos_in_stream]), set(exc.allowed or ())
    else:  # pragma: no cover - lark raises only the three subclasses above
        pos, found, expected = 0, "input", set()
    wanted = sorted({_TERMINAL_NAMES.get(name, name) for name in expected})
    near = text[max(0, pos - 15) : pos + 15]
    message = f"Invalid q at position {pos} (near {near!r}): unexpected {found}"
    if wanted:
        message += "; expected " + ", ".join(wanted)
    if found == "'\"'":
        message += " (is a quoted string missing its closing quote?)"
    return message


class _Builder:
    """Turns the lark tree into QExpr objects, validating literals and expanding names."""

    def __init__(self, text: str, expand: Callable[[str], str]) -> None:
        self.text = text
        self.expand = expand

    def error(self, token: Token, problem: str) -> BadRequestData:
        """Build a BadRequestData that points at ``token``."""
        return BadRequestData(f"Invalid q at position {token.start_pos}: {problem}")

    def expr(self, tree: Tree) -> QExpr:
        """Convert a disj/conj/term subtree."""
        if tree.data == "disj":
            return QOr(tuple(self.expr(child) for child in tree.children))
        if tree.data == "conj":
            return QAnd(tuple(self.expr(child) for child in tree.children))
        children = tree.children
        if tree.data == "exists":
            return QExists(self.path(children[0]))
        if tree.data == "not_exists":
            return QExists(self.path(children[0]), negated=True)
        path = self.path(children[0])
        op: Token = children[1]
        if tree.data == "order":
            return QTerm(path, Ordered(str(op), self.literal(children[2])))
        if tree.data == "pattern":
            return QTerm(path, Matches(self.regex(children[2])), negated=op == "!~=")
        value_tree: Tree = children[2]
        if value_tree.data == "value_range":
            low, high = (self.literal(tok) for tok in value_tree.children)
            if low.kind != high.kind:
                raise self.error(
                    value_tree.children[0],
                    f"the range bounds are a {low.kind} and a {high.kind}; both must be of the same kind",
                )
            test: Test = InRange(low, high)
        else:
            test = EqualsAny(tuple(self.literal(tok) for tok in value_tree.children))
        return QTerm(path, test, negated=op == "!=")

    def path(self, tree: Tree) -> AttrPath:
        """Convert a path subtree, expanding the attribute and sub-attribute names."""
        names = [tok for tok in tree.children if tok.type == "NAME"]
        keys = tuple(str(tok) for tok in tree.children if tok.type == "KEY")
        member = None
        rest = names[1:]
        if rest and str(rest[-1]) in PATH_MEMBERS:
            member = str(rest[-1])
            rest = rest[:-1]
            if keys:
                raise self.error(names[-1], f"'{member}' is a core member and cannot be followed by [key]")
        for tok in rest:
            if str(tok) in PATH_MEMBERS:
                raise self.error(tok, f"'{tok}' is a core member and must be the last part of a path")
        return AttrPath(
            attr=self.expand(str(names[0])),
            subs=tuple(self.expand(str(tok)) for tok in rest),
            member=member,
            keys=keys,
        )

    def literal(self, tok: Token) -> QValue:
        """Convert a value token into a typed literal."""
        raw = str(tok)
        if tok.type == "NUMBER":
            number: int | float = int(raw) if re.fullmatch(r"-?\d+", raw) else float(raw)
            if isinstance(number, int) and not -(2**63) <= number < 2**63:
                try:
                    number = float(number)
                except OverflowError:  # more than about 1.8e308: beyond any double
                    number = math.inf
            if not math.isfinite(number):
                raise self.error(tok, f"the number {raw} is out of range")
            return QValue("number", number)
        if tok.type == "STRING":
            return QValue("text", _unquote(raw))
        if tok.type in ("TRUE", "FALSE"):
            return QValue("boolean", tok.type == "TRUE")
        if tok.type == "DATETIME":
            try:
                return QValue("datetime", datetime_key(parse_ts(raw)))
            except (ValueError, OverflowError):
                raise self.error(tok, f"'{raw}' is not a valid date-time") from None
        if tok.type == "DATE":
            try:
                date.fromisoformat(raw)
            except ValueError:
                raise self.error(tok, f"'{raw}' is not a valid date") from None
        return QValue("text", raw)  # DATE, TIME and URI compare as text

    def regex(self, tok: Token) -> str:
        """Convert a pattern token into a validated regular expression."""
        pattern = _unquote(str(tok)) if tok.type == "STRING" else str(tok)
        try:
            _compiled(pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            raise self.error(tok, f"invalid regular expression {pattern!r}: {exc}") from None
        return pattern


def _unquote(raw: str) -> str:
    r"""Strip the quotes of a STRING token; \" and \\ are escapes, other backslashes stay."""
    return re.sub(r'\\(["\\])', r"\1", raw[1:-1])


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    """Compile (and cache) a regular expression."""
    return re.compile(pattern)


def datetime_key(moment: datetime) -> str:
    """Canonical, zero-padded UTC text of an instant, whose lexical order is time order."""
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond:06d}Z"
    )


def stored_datetime_key(text: Any) -> str | None:
    """The datetime_key of a stored string when it is a well-formed date-time, else None."""
    if not isinstance(text, str) or not _STORED_DATETIME.match(text):
        return None
    return datetime_key(parse_ts(text))


# ---------------------------------------------------------------------------------------------
# Python evaluation


def q_attributes(expr: QExpr) -> frozenset[str]:
    """The attribute IRIs a q expression looks at (the first name of each of its paths)."""
    if isinstance(expr, QAnd | QOr):
        return frozenset().union(*(q_attributes(item) for item in expr.items))
    if isinstance(expr, QExists | QTerm):
        return frozenset({expr.path.attr})
    raise TypeError(f"not a q expression: {expr!r}")


def q_matches(expr: QExpr, entity: dict[str, Any]) -> bool:
    """Whether a canonical entity satisfies the q expression (the reference semantics)."""
    if isinstance(expr, QAnd):
        return all(q_matches(item, entity) for item in expr.items)
    if isinstance(expr, QOr):
        return any(q_matches(item, entity) for item in expr.items)
    if isinstance(expr, QExists):
        found = any(_path_exists(inst, expr.path) for inst in _instances(entity, expr.path))
        return found != expr.negated
    if isinstance(expr, QTerm):
        return any(
            _holds(expr.test, element) != expr.negated for element in _elements(entity, expr.path)
        )
    raise TypeError(f"not a q expression: {expr!r}")


def _instances(entity: dict[str, Any], path: AttrPath) -> Iterator[dict[str, Any]]:
    """The instances (or nested sub-attribute instances) that the path addresses."""
    attrs = entity.get("attrs")
    instances = attrs.get(path.attr) if isinstance(attrs, dict) else None
    if not isinstance(instances, list):
        return
    for inst in instances:
        current: Any = inst
        for sub in path.subs:
            subs = current.get("sub") if isinstance(current, dict) else None
            current = subs.get(sub) if isinstance(subs, dict) else None
        if isinstance(current, dict):
            yield current


def _targets(inst: dict[str, Any], path: AttrPath) -> list[Any]:
    """The targeted values of one instance (see the module docstring)."""
    if path.member is not None:
        return [inst[path.member]] if path.member in inst else []
    kind = inst.get("type")
    member = VALUE_MEMBER.get(kind) if isinstance(kind, str) else None
    if member is None or member not in inst:
        return []
    base = inst[member]
    if path.keys:
        for key in path.keys:
            if not isinstance(base, dict) or key not in base:
                return []
            base = base[key]
        return [base]
    if kind == "LanguageProperty":
        if isinstance(base, dict):
            return list(base.values())
        if isinstance(base, list):
            return list(base)
    return [base]


def _path_exists(inst: dict[str, Any], path: AttrPath) -> bool:
    """Whether the path exists in this instance."""
    if path.member is None and not path.keys:
        return True
    return bool(_targets(inst, path))


def _unwrap(value: Any) -> Any:
    """An ``{"@value": v}`` object stands for v."""
    if isinstance(value, dict) and "@value" in value:
        return value["@value"]
    return value


def _elements(entity: dict[str, Any], path: AttrPath) -> Iterator[Any]:
    """Every element compared by a term: targeted values, arrays spread one level."""
    for inst in _instances(entity, path):
        for target in _targets(inst, path):
            if isinstance(target, list):
                yield from (_unwrap(item) for item in target)
            else:
                yield _unwrap(target)


def _comparable(kind: str, element: Any) -> Any:
    """The element as a value of ``kind``, or None when it is not of that kind."""
    if kind == "number":
        return element if isinstance(element, int | float) and not isinstance(element, bool) else None
    if kind == "text":
        return element if isinstance(element, str) else None
    if kind == "datetime":
        return stored_datetime_key(element)
    return element if isinstance(element, bool) else None


_ORDER = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _holds(test: Test, element: Any) -> bool:
    """Whether one element satisfies the (positive) test."""
    if isinstance(test, EqualsAny):
        for literal in test.values:
            value = _comparable(literal.kind, element)
            if value is not None and value == literal.value:
                return True
        return False
    if isinstance(test, InRange):
        value = _comparable(test.low.kind, element)
        return value is not None and test.low.value <= value <= test.high.value
    if isinstance(test, Ordered):
        value = _comparable(test.value.kind, element)
        return value is not None and _ORDER[test.op](value, test.value.value)
    return isinstance(element, str) and _compiled(test.pattern).search(element) is not None


# ---------------------------------------------------------------------------------------------
# SQL compilation

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


# Numeric index of attribute values (``entity_attrs.num`` / ``entity_attrs.numkind``, written by the
# store): NUM_SINGLE when the attribute's only element (see _elements) is a number that a double
# holds exactly, so every numeric test on the attribute is a test on ``num``; NUM_OTHER when some
# element is a number but not in that simple way (the exact predicate must decide); NUM_NONE when
# no element is a number (no numeric test can match). Rows written before the index existed carry
# NUM_OTHER, so they are always checked by the exact predicate.
NUM_SINGLE, NUM_OTHER, NUM_NONE = 0, 1, 2
_EXACT_INT = 2**53


def _exact_double(value: Any) -> bool:
    """Whether a JSON number converts to a double without rounding (so SQL compares it exactly)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool) and -_EXACT_INT <= value <= _EXACT_INT


def numeric_key(instances: Any) -> tuple[float | None, int]:
    """The (num, numkind) index entry of one attribute, from its list of instances."""
    if len(instances) == 1:  # the common case, decided without walking the elements
        only = instances[0]
        value = only.get("value") if isinstance(only, dict) and only.get("type") == "Property" else None
        if type(value) is float and math.isfinite(value) or type(value) is int and -_EXACT_INT <= value <= _EXACT_INT:
            return float(value), NUM_SINGLE
    elements = list(_elements({"attrs": {"": instances}}, AttrPath("")))
    numbers = [x for x in elements if isinstance(x, int | float) and not isinstance(x, bool)]
    if not numbers:
        return None, NUM_NONE
    if len(elements) == 1 and _exact_double(numbers[0]):
        return float(numbers[0]), NUM_SINGLE
    return None, NUM_OTHER


def q_to_sql(
    expr: QExpr, dialect: Literal["sqlite", "postgres"], doc: str, *, index: tuple[str, str] | None = None
) -> tuple[str, list[Any]]:
    """Compile a q expression to a SQL boolean over the JSON column ``doc`` (TEXT or JSONB).

    Placeholders are ``?`` (sqlite3) or ``%s`` (psycopg 3). For SQLite, call
    :func:`register_sqlite_functions` on the connection first. Qualify ``doc`` (``e.doc``) when the
    query joins other tables. ``index=(seq column, tenant)`` lets numeric comparisons on plain
    attribute paths use the store's numeric index (``entity_attrs``) instead of reading the JSON
    document; the result is the same.
    """
    if not _IDENTIFIER.fullmatch(doc):
        raise ValueError(f"doc must be a column name such as 'doc' or 'e.doc', got {doc!r}")
    if index is not None and not _IDENTIFIER.fullmatch(index[0]):
        raise ValueError(f"the index seq column must be a column name such as 'e.seq', got {index[0]!r}")
    if dialect == "sqlite":
        compiler: _Compiler = _SqliteCompiler(doc, index)
    elif dialect == "postgres":
        compiler = _PostgresCompiler(doc, index)
    else:
        raise ValueError(f"dialect must be 'sqlite' or 'postgres', got {dialect!r}")
    params: list[Any] = []
    sql = compiler.expr(expr, params)
    return sql, params


def q_candidates(
    expr: QExpr, dialect: Literal["sqlite", "postgres"], tenant: str
) -> tuple[str, list[Any]] | None:
    """A SELECT of ``entity_seq`` over the store's numeric index that contains every entity the
    expression can match (a superset, to drive a query), or None when the index cannot narrow it."""
    compiler: _Compiler = _SqliteCompiler("doc") if dialect == "sqlite" else _PostgresCompiler("doc")
    params: list[Any] = []
    sql = compiler.candidates(expr, tenant, params)
    return None if sql is None else (sql, params)


def _indexable(expr: QExpr) -> bool:
    """Whether a term is a positive numeric test on a plain attribute path with exact literals."""
    if not isinstance(expr, QTerm) or expr.negated:
        return False
    path = expr.path
    if path.subs or path.member is not None or path.keys:
        return False
    test = expr.test
    if isinstance(test, Ordered):
        literals: tuple[QValue, ...] = (test.value,)
    elif isinstance(test, InRange):
        literals = (test.low, test.high)
    elif isinstance(test, EqualsAny):
        literals = test.values
    else:
        return False
    return all(lit.kind == "number" and _exact_double(lit.value) for lit in literals)


class _Compiler(ABC):
    """Shared structure of the SQL compilers; dialects supply paths and element predicates."""

    true_sql = "1"
    false_sql = "0"
    ph = "?"
    num_param = "?"

    def __init__(self, doc: str, index: tuple[str, str] | None = None) -> None:
        self.doc = doc
        self.index = index

    def expr(self, expr: QExpr, params: list[Any]) -> str:
        """Compile any expression, appending its parameters in text order."""
        if self.index is not None and (isinstance(expr, QAnd) or _indexable(expr)):
            items = expr.items if isinstance(expr, QAnd) else (expr,)
            groups: dict[str, list[QTerm]] = {}
            for item in items:
                if _indexable(item):
                    groups.setdefault(item.path.attr, []).append(item)
            parts = []
            for item in items:
                if not _indexable(item):
                    parts.append(self.expr(item, params))
                elif groups[item.path.attr][0] is item:
                    parts.append(self.indexed(groups[item.path.attr], params))
            return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"
        if isinstance(expr, QAnd | QOr):
            joiner = " AND " if isinstance(expr, QAnd) else " OR "
            return "(" + joiner.join(self.expr(item, params) for item in expr.items) + ")"
        if isinstance(expr, QExists):
            sql = self.exists(expr.path, params)
            return f"(NOT {sql})" if expr.negated else sql
        if isinstance(expr, QTerm):
            return self.term(expr, params)
        raise TypeError(f"not a q expression: {expr!r}")

    def indexed(self, terms: list[QTerm], params: list[Any]) -> str:
        """Numeric terms on one attribute, all true: through the numeric index.

        An entity whose attribute is NUM_SINGLE satisfies them exactly when its indexed number
        does; one whose attribute is NUM_OTHER is decided by the exact JSON predicates; any other
        entity (attribute absent, or without numbers) cannot satisfy a numeric test. One primary
        key lookup per entity.
        """
        assert self.index is not None
        seq, tenant = self.index
        params += [tenant, terms[0].path.attr]
        conditions = self.num_conditions(terms, params)
        exact = " AND ".join(self.term(term, params) for term in terms)
        return (
            f"EXISTS (SELECT 1 FROM entity_attrs n WHERE n.tenant = {self.ph} AND n.attr = {self.ph} "
            f"AND n.entity_seq = {seq} AND ((n.numkind = {NUM_SINGLE} AND {conditions}) "
            f"OR (n.numkind = {NUM_OTHER} AND {exact})))"
        )

    def num_conditions(self, terms: list[QTerm], params: list[Any]) -> str:
        """SQL conditions on the indexed number ``n.num`` equivalent to the terms."""
        conditions = []
        for term in terms:
            test = term.test
            if isinstance(test, Ordered):
                conditions.append(f"n.num {test.op} {self.num_param}")
                params.append(float(test.value.value))
            elif isinstance(test, InRange):
                conditions.append(f"n.num >= {self.num_param} AND n.num <= {self.num_param}")
                params += [float(test.low.value), float(test.high.value)]
            else:
                assert isinstance(test, EqualsAny)
                conditions.append(f"n.num IN ({', '.join([self.num_param] * len(test.values))})")
                params += [float(v.value) for v in test.values]
        return " AND ".join(conditions)

    def candidates(self, expr: QExpr, tenant: str, params: list[Any]) -> str | None:
        """A SELECT of entity seqs holding every match of the expression, from the numeric index,
        or None when no top-level numeric term can narrow it."""
        items = expr.items if isinstance(expr, QAnd) else (expr,)
        terms = [item for item in items if _indexable(item)]
        if not terms:
            return None
        attr = terms[0].path.attr
        terms = [t for t in terms if t.path.attr == attr]
        ph = self.ph
        lookup = f"SELECT n.entity_seq FROM entity_attrs n WHERE n.tenant = {ph} AND n.attr = {ph} AND n.numkind = "
        params += [tenant, attr]
        single = f"{lookup}{NUM_SINGLE} AND {self.num_conditions(terms, params)}"
        params += [tenant, attr]
        return f"{single} UNION ALL {lookup}{NUM_OTHER}"

    @abstractmethod
    def exists(self, path: AttrPath, params: list[Any]) -> str:
        """SQL that is true when the path exists in some instance."""

    @abstractmethod
    def term(self, term: QTerm, params: list[Any]) -> str:
        """SQL that is true when some element satisfies (or fails) the test."""

    def predicate(self, test: Test, negated: bool, element: str, params: list[Any]) -> str:
        """Boolean SQL for the test on one element, never NULL."""
        if isinstance(test, EqualsAny):
            parts = [self.compare(literal, "=", element, params) for literal in test.values]
            positive = " OR ".join(parts)
        elif isinstance(test, InRange):
            low = self.compare(test.low, ">=", element, params)
            high = self.compare(test.high, "<=", element, params)
            positive = f"{low} AND {high}"
        elif isinstance(test, Ordered):
            positive = self.compare(test.value, test.op, element, params)
        else:
            positive = self.regex(test.pattern, element, params)
        sql = f"COALESCE(({positive}), {self.false_sql})"
        return f"(NOT {sql})" if negated else sql

    @abstractmethod
    def compare(self, literal: QValue, op: str, element: str, params: list[Any]) -> str:
        """SQL comparing one element to a literal (NULL when the kinds differ)."""

    @abstractmethod
    def regex(self, pattern: str, element: str, params: list[Any]) -> str:
        """SQL that is true when the element is a string matched by the pattern."""


def _member_case(type_sql: str) -> str:
    """SQL CASE giving the name of the value member for an instance type expression."""
    whens = " ".join(f"WHEN '{kind}' THEN '{member}'" for kind, member in VALUE_MEMBER.items())
    return f"(CASE {type_sql} {whens} END)"


class _SqliteCompiler(_Compiler):
    """SQLite: JSON text navigated with json_each rows and the paths SQLite itself reports."""

    def chain(self, path: AttrPath, params: list[Any]) -> tuple[list[str], list[str], str]:
        """FROM items, WHERE conditions and the instance path expression of a path's instances."""
        doc = self.doc
        froms = [f"json_each({doc}, '$.attrs') AS qa", f"json_each({doc}, qa.fullkey) AS qi0"]
        wheres = ["qa.key = ?", "qa.type = 'array'", "qi0.type = 'object'"]
        params.append(path.attr)
        for n, sub in enumerate(path.subs, start=1):
            froms.append(f"json_each({doc}, qi{n - 1}.fullkey || '.sub') AS qi{n}")
            wheres += [f"qi{n}.key = ?", f"qi{n}.type = 'object'"]
            params.append(sub)
        return froms, wheres, f"qi{len(path.subs)}.fullkey"

    def targets(self, path: AttrPath, inst: str, params: list[Any]) -> tuple[list[str], list[str]]:
        """FROM items and conditions whose last row ``qt`` enumerates the targeted values."""
        doc = self.doc
        kind = f"json_extract({doc}, {inst} || '.type')"
        if path.member is not None:
            params.append(path.member)
            return [f"json_each({doc}, {inst}) AS qt"], ["qt.key = ?"]
        if path.keys:
            froms = [f"json_each({doc}, {inst}) AS qk0"]
            wheres = [f"qk0.key = {_member_case(kind)}"]
            previous = "qk0"
            for n, key in enumerate(path.keys, start=1):
                alias = "qt" if n == len(path.keys) else f"qk{n}"
                froms.append(f"json_each({doc}, {previous}.fullkey) AS {alias}")
                wheres += [f"{previous}.type = 'object'", f"{alias}.key = ?"]
                params.append(key)
                previous = alias
            return froms, wheres
        source = f"CASE WHEN {kind} = 'LanguageProperty' THEN {inst} || '.languageMap' ELSE {inst} END"
        return (
            [f"json_each({doc}, {source}) AS qt"],
            [f"({kind} = 'LanguageProperty' OR qt.key = {_member_case(kind)})"],
        )

    def exists(self, path: AttrPath, params: list[Any]) -> str:
        """EXISTS over the instances (and, for members and keys, over the targeted value)."""
        froms, wheres, inst = self.chain(path, params)
        if path.member is not None or path.keys:
            more_froms, more_wheres = self.targets(path, inst, params)
            froms += more_froms
            wheres += more_wheres
        return f"EXISTS (SELECT 1 FROM {', '.join(froms)} WHERE {' AND '.join(wheres)})"

    def term(self, term: QTerm, params: list[Any]) -> str:
        """Two EXISTS: non-array targeted values, and elements of array targeted values."""
        branches = []
        for spread in (False, True):
            froms, wheres, inst = self.chain(term.path, params)
            more_froms, more_wheres = self.targets(term.path, inst, params)
            froms += more_froms
            wheres += more_wheres
            if spread:
                froms.append(f"json_each({self.doc}, qt.fullkey) AS qe")
                wheres.append("qt.type = 'array'")
                element = "qe"
            else:
                wheres.append("qt.type <> 'array'")
                element = "qt"
            wheres.append(self.predicate(term.test, term.negated, element, params))
            branches.append(f"EXISTS (SELECT 1 FROM {', '.join(froms)} WHERE {' AND '.join(wheres)})")
        return f"({branches[0]} OR {branches[1]})"

    @staticmethod
    def _type(row: str) -> str:
        return (
            f"(CASE WHEN {row}.type = 'object' THEN COALESCE(json_type({row}.value, '$.\"@value\"'), "
            f"'object') ELSE {row}.type END)"
        )

    @staticmethod
    def _atom(row: str) -> str:
        return (
            f"(CASE WHEN {row}.type = 'object' THEN json_extract({row}.value, '$.\"@value\"') "
            f"ELSE {row}.atom END)"
        )

    def _text(self, row: str) -> str:
        return f"(CASE WHEN {self._type(row)} = 'text' THEN {self._atom(row)} END)"

    def compare(self, literal: QValue, op: str, element: str, params: list[Any]) -> str:
        """Typed comparison of a json_each row's (unwrapped) value with a parameter."""
        if literal.kind == "boolean":
            params.append("true" if literal.value else "false")
            return f"{self._type(element)} = ?"
        if literal.kind == "number":
            lhs = f"(CASE WHEN {self._type(element)} IN ('integer', 'real') THEN {self._atom(element)} END)"
        elif literal.kind == "text":
            lhs = self._text(element)
        else:
            lhs = f"ngsild_datetime({self._text(element)})"
        params.append(literal.value)
        return f"{lhs} {op} ?"

    def regex(self, pattern: str, element: str, params: list[Any]) -> str:
        """Use the registered regexp(pattern, text) function."""
        params.append(pattern)
        return f"regexp(?, {self._text(element)})"


class _PostgresCompiler(_Compiler):
    """PostgreSQL: JSONB navigated with -> and jsonb_array_elements in LATERAL subqueries."""

    true_sql = "TRUE"
    false_sql = "FALSE"
    ph = "%s"
    num_param = "%s::float8"

    def chain(self, path: AttrPath, params: list[Any]) -> tuple[list[str], list[str], str]:
        """FROM items, WHERE conditions and the JSONB expression of a path's instances."""
        attr = f"{self.doc} -> 'attrs' -> %s::text"
        params += [path.attr, path.attr]
        froms = [
            f"jsonb_array_elements(CASE WHEN jsonb_typeof({attr}) = 'array' THEN {attr} "
            "ELSE '[]'::jsonb END) AS qi0(v)"
        ]
        wheres = ["jsonb_typeof(qi0.v) = 'object'"]
        for n, sub in enumerate(path.subs, start=1):
            froms.append(f"LATERAL (SELECT qi{n - 1}.v -> 'sub' -> %s::text AS v) AS qi{n}")
            wheres.append(f"jsonb_typeof(qi{n}.v) = 'object'")
            params.append(sub)
        return froms, wheres, f"qi{len(path.subs)}.v"

    def base(self, path: AttrPath, inst: str, params: list[Any]) -> str:
        """LATERAL subquery ``qx(v, lang)``: the addressed JSONB value (or NULL), and whether
        its children are the targeted values (a LanguageProperty's languageMap)."""
        kind = f"({inst} ->> 'type')"
        if path.member is not None:
            params.append(path.member)
            return f"LATERAL (SELECT {inst} -> %s::text AS v, FALSE AS lang) AS qx"
        if path.keys:
            steps = " -> %s::text" * len(path.keys)
            params.extend(path.keys)
            return f"LATERAL (SELECT {inst} -> {_member_case(kind)}{steps} AS v, FALSE AS lang) AS qx"
        is_lang = f"{kind} = 'LanguageProperty'"
        return (
            f"LATERAL (SELECT CASE WHEN {is_lang} THEN {inst} -> 'languageMap' "
            f"ELSE {inst} -> {_member_case(kind)} END AS v, COALESCE({is_lang}, FALSE) AS lang) AS qx"
        )

    def exists(self, path: AttrPath, params: list[Any]) -> str:
        """EXISTS over the instances (and, for members and keys, a non-NULL addressed value)."""
        froms, wheres, inst = self.chain(path, params)
        if path.member is not None or path.keys:
            froms.append(self.base(path, inst, params))
            wheres.append("qx.v IS NOT NULL")
        return f"EXISTS (SELECT 1 FROM {', '.join(froms)} WHERE {' AND '.join(wheres)})"

    def term(self, term: QTerm, params: list[Any]) -> str:
        """EXISTS over targeted values, their array elements and the unwrapped element."""
        froms, wheres, inst = self.chain(term.path, params)
        froms.append(self.base(term.path, inst, params))
        froms.append(
            "jsonb_array_elements(CASE WHEN qx.v IS NULL THEN '[]'::jsonb "
            "WHEN qx.lang AND jsonb_typeof(qx.v) = 'object' THEN "
            "COALESCE((SELECT jsonb_agg(m.value) FROM jsonb_each(qx.v) AS m), '[]'::jsonb) "
            "WHEN qx.lang AND jsonb_typeof(qx.v) = 'array' THEN qx.v "
            "ELSE jsonb_build_array(qx.v) END) AS qt(v)"
        )
        froms.append(
            "jsonb_array_elements(CASE WHEN jsonb_typeof(qt.v) = 'array' THEN qt.v "
            "ELSE jsonb_build_array(qt.v) END) AS qe(v)"
        )
        froms.append(
            "LATERAL (SELECT CASE WHEN jsonb_typeof(qe.v) = 'object' AND qe.v ? '@value' "
            "THEN qe.v -> '@value' ELSE qe.v END AS v) AS qu"
        )
        wheres.append(self.predicate(term.test, term.negated, "qu.v", params))
        return f"EXISTS (SELECT 1 FROM {', '.join(froms)} WHERE {' AND '.join(wheres)})"

    @staticmethod
    def _text(value: str) -> str:
        return f"(CASE WHEN jsonb_typeof({value}) = 'string' THEN {value} #>> '{{}}' END)"

    def compare(self, literal: QValue, op: str, element: str, params: list[Any]) -> str:
        """Typed comparison of an (unwrapped) JSONB element with a parameter."""
        if literal.kind == "boolean":
            params.append("true" if literal.value else "false")
            return f"{element} = %s::jsonb"
        if literal.kind == "number":
            params.append(repr(literal.value))
            return (
                f"(CASE WHEN jsonb_typeof({element}) = 'number' THEN ({element})::numeric END) "
                f"{op} %s::numeric"
            )
        if literal.kind == "text":
            params.append(literal.value)
            return f'{self._text(element)} COLLATE "C" {op} %s::text'
        params += [STORED_DATETIME_PATTERN, literal.value]
        text = self._text(element)
        return f"(CASE WHEN {text} ~ %s THEN {text}::timestamptz END) {op} %s::timestamptz"

    def regex(self, pattern: str, element: str, params: list[Any]) -> str:
        """POSIX regular-expression match with ``~``."""
        params.append(pattern)
        return f"{self._text(element)} ~ %s"


def register_sqlite_functions(conn: sqlite3.Connection) -> None:
    """Register the deterministic SQL functions that compiled q expressions use on SQLite."""
    conn.create_function("regexp", 2, _sqlite_regexp, deterministic=True)
    conn.create_function("ngsild_datetime", 1, stored_datetime_key, deterministic=True)


def _sqlite_regexp(pattern: str | None, text: Any) -> int | None:
    """regexp(pattern, text): 1 when the pattern is found in the text, NULL for non-text."""
    if pattern is None or not isinstance(text, str):
        return None
    return 1 if _compiled(pattern).search(text) else 0
