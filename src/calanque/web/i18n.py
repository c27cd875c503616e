"""Message catalogues of the web UI: gettext .po files read at run time with Babel.

Each language has ``i18n/<lang>.po`` and, optionally, more catalogues ``i18n/<lang>-<part>.po`` (one per
group of pages, so that several people can add strings without editing the same file); they are merged
in name order and compiled in memory (no build step). Message ids are the English texts: English needs
no translation, and a message missing from a catalogue shows its English id.

The language of a request: ``?lang=xx`` (remembered in the ``calanque_lang`` cookie), else that cookie,
else the browser's ``Accept-Language``, else French.
"""

from __future__ import annotations

import gettext
import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
LANG_COOKIE = "calanque_lang"
CATALOGUE_DIR = Path(__file__).parent / "i18n"


class Catalogue:
    """The translations of one language: ``gettext`` for templates, ``messages`` for the page's JS."""

    def __init__(self, lang: str, translations: gettext.NullTranslations, messages: dict[str, str]) -> None:
        self.lang = lang
        self.translations = translations
        self.messages = messages

    def gettext(self, message: str, **params: object) -> str:
        """The translation of a message, with ``{name}`` placeholders filled from ``params``."""
        text = self.translations.gettext(message)
        return text.format(**params) if params else text


def _files(lang: str, folder: Path) -> list[Path]:
    main = folder / f"{lang}.po"
    return ([main] if main.is_file() else []) + sorted(folder.glob(f"{lang}-*.po"))


@lru_cache(maxsize=8)
def load(lang: str, folder: Path = CATALOGUE_DIR) -> Catalogue:
    """Read and compile the catalogues of one language (cached; raises ValueError for an unknown language)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language '{lang}': expected one of {', '.join(LANGUAGES)}")
    messages: dict[str, str] = {}
    merged = None
    for path in _files(lang, folder):
        with path.open("rb") as f:
            catalog = read_po(f, locale=lang)
        if merged is None:
            merged = catalog
        else:
            for message in catalog:
                if message.id:
                    merged[message.id] = message
    if merged is None:
        return Catalogue(lang, gettext.NullTranslations(), {})
    buffer = io.BytesIO()
    write_mo(buffer, merged)
    buffer.seek(0)
    translations = gettext.GNUTranslations(buffer)
    for message in merged:
        if message.id and isinstance(message.id, str) and message.string:
            messages[message.id] = message.string
    return Catalogue(lang, translations, messages)


def negotiate(query_lang: str | None, cookie_lang: str | None, accept_language: str | None) -> str:
    """The language of a request: the query parameter, the cookie, Accept-Language, or French."""
    for choice in (query_lang, cookie_lang):
        if choice in LANGUAGES:
            return choice  # type: ignore[return-value]
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE
