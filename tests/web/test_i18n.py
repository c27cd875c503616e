"""Message catalogues: every message shown has a French translation; languages are negotiated right."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from calanque.usecases.registry import discover
from calanque.web import i18n

WEB = Path(i18n.__file__).parent
USECASES = WEB.parent / "usecases"
# _("…") in templates and Python routes, t("…") / C.t("…") in scripts (first argument, a literal)
TEMPLATE_CALL = re.compile(r"""_\(\s*(["'])((?:\\.|(?!\1).)+)\1""")
SCRIPT_CALL = re.compile(r"""\bt\(\s*(["'])((?:\\.|(?!\1).)+)\1""")
# labels of the map-state hooks: MapState(level, "label", …) and the water colour labels
HOOK_LABEL = re.compile(r"""MapState\(\s*"\w+",\s*"([^"]+)"|^\s*"\w+": "(Level [^"]+)",$""", re.M)
# the map legend's level names (map.js NAMES)
# attribute names the public portal shows as column headings
PUBLIC_ATTRIBUTES = (
    "LAeq",
    "LAmax",
    "currentLevel",
    "height",
    "flow",
    "temperature",
    "pH",
    "conductivity",
    "turbidity",
    "O2",
    "intensity",
    "peopleCount",
    "fillingLevel",
)
LEVEL_NAMES = re.compile(r"""^\s+ok: "Normal".*?};""", re.S | re.M)


def used_messages() -> set[str]:
    """Every literal message of the templates, pages, scripts and map-state hooks."""
    found: set[str] = set()
    for path in [*WEB.glob("templates/**/*.html"), *WEB.glob("*.py")]:
        found |= {m.group(2) for m in TEMPLATE_CALL.finditer(path.read_text(encoding="utf-8"))}
    for path in WEB.glob("static/js/*.js"):
        text = path.read_text(encoding="utf-8")
        found |= {m.group(2).replace('\\"', '"') for m in SCRIPT_CALL.finditer(text)}
        if path.name == "map.js":
            names = LEVEL_NAMES.search(text)
            assert names, "map.js NAMES not found"
            found |= set(re.findall(r'"([^"]+)"', names.group(0)))
    for path in [*USECASES.glob("*/mapstate.py"), USECASES / "mapview.py", WEB / "mapdata.py"]:
        for m in HOOK_LABEL.finditer(path.read_text(encoding="utf-8")):
            found.add(m.group(1) or m.group(2))
    found |= {uc.title for uc in discover()}
    found |= {t for uc in discover() for t in uc.entity_types}
    found |= {"admin", "operator", "viewer", "partner"}
    found |= set(PUBLIC_ATTRIBUTES)
    return found


def test_every_message_has_a_french_translation() -> None:
    french = i18n.load("fr").messages
    used = used_messages()
    assert len(used) > 100
    missing = sorted(m for m in used if not french.get(m))
    assert not missing, f"messages without a French translation (add them to i18n/fr*.po): {missing}"


def test_english_catalogue_lists_the_same_messages() -> None:
    from babel.messages.pofile import read_po

    def ids(lang: str) -> set[str]:
        out: set[str] = set()
        for path in [WEB / "i18n" / f"{lang}.po", *sorted((WEB / "i18n").glob(f"{lang}-*.po"))]:
            with path.open("rb") as f:
                out |= {m.id for m in read_po(f) if m.id}
        return out

    assert ids("fr") == ids("en")


def test_placeholders_survive_translation() -> None:
    french = i18n.load("fr").messages
    for message, translation in french.items():
        assert set(re.findall(r"\{(\w+)\}", message)) == set(re.findall(r"\{(\w+)\}", translation)), message


@pytest.mark.parametrize(
    ("query", "cookie", "header", "expected"),
    [
        (None, None, None, "fr"),
        ("en", None, "fr-FR", "en"),
        (None, "en", "fr", "en"),
        ("xx", "en", None, "en"),
        (None, None, "en-GB,en;q=0.9,fr;q=0.8", "en"),
        (None, None, "de-DE, fr;q=0.5, en;q=0.4", "fr"),
        (None, None, "de, en;q=0", "fr"),
        (None, None, "en;q=bad, fr;q=0.3", "fr"),
    ],
)
def test_language_negotiation(
    query: str | None, cookie: str | None, header: str | None, expected: str
) -> None:
    assert i18n.negotiate(query, cookie, header) == expected


def test_gettext_fills_placeholders_and_falls_back_to_english() -> None:
    fr, en = i18n.load("fr"), i18n.load("en")
    assert fr.gettext("Error {status}", status=503) == "Erreur 503"
    assert en.gettext("Error {status}", status=503) == "Error 503"
    assert fr.gettext("a message nobody translated") == "a message nobody translated"
    with pytest.raises(ValueError, match="unknown language 'de'"):
        i18n.load("de")
