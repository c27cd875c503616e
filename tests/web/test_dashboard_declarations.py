"""Dashboards declared by the use cases: files and French catalogues of the built-in ones, a use case added
as a folder (tests/usecases/plugins/airquality) bringing its own page, and broken declarations refused
with a message naming the file. Over HTTP on a live server without authentication (no browser needed)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from babel.messages.pofile import read_po

from calanque.app import create_app
from calanque.config import Settings
from calanque.usecases.registry import UseCaseError, discover, load_folder
from calanque.web import i18n
from tests.conftest import LiveServer, free_port

PLUGIN = Path(__file__).resolve().parents[1] / "usecases" / "plugins" / "airquality"
TEMPLATE_CALL = re.compile(r"""_\(\s*(["'])((?:\\.|(?!\1).)+)\1""")
SCRIPT_CALL = re.compile(r"""\bt\(\s*(["'])((?:\\.|(?!\1).)+)\1""")


def catalogue(folder: Path, lang: str) -> dict[str, str]:
    """msgid -> msgstr of a dashboard's catalogue."""
    with (folder / "i18n" / f"{lang}.po").open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


def used(folder: Path, template: str, script: str) -> set[str]:
    """Every literal message of a dashboard's template and script."""
    found = {m.group(2) for m in TEMPLATE_CALL.finditer((folder / template).read_text(encoding="utf-8"))}
    found |= {m.group(2).replace('\\"', '"') for m in SCRIPT_CALL.finditer((folder / script).read_text(encoding="utf-8"))}
    return found


@pytest.mark.parametrize("usecase", [uc for uc in discover() if uc.source == "builtin"], ids=lambda uc: uc.name)
def test_builtin_dashboards_are_complete_and_in_french(usecase) -> None:  # type: ignore[no-untyped-def]
    board = usecase.dashboard
    assert board is not None, f"use case {usecase.name} declares no dashboard"
    folder = Path(board.folder)
    french, english = catalogue(folder, "fr"), catalogue(folder, "en")
    assert set(french) == set(english)
    ui_french = i18n.load("fr").messages
    messages = used(folder, board.template, board.script)
    assert len(messages) > 10
    missing = sorted(m for m in messages if not (french.get(m) or ui_french.get(m)))
    assert not missing, f"{usecase.name}: messages without French (add them to {folder}/i18n/fr.po): {missing}"
    for message, translation in french.items():
        assert set(re.findall(r"\{(\w+)\}", message)) == set(re.findall(r"\{(\w+)\}", translation)), message


@pytest.fixture(scope="module")
def plugin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server (SQLite, no authentication) with the air-quality folder added."""
    from calanque.store.sqlite import SqliteStore

    store = SqliteStore(str(tmp_path_factory.mktemp("plugin-ui") / "ui.db"))
    port = free_port()
    app = create_app(Settings(data_dir=Path("/nonexistent"), port=port, auth=False, usecase_paths=str(PLUGIN)),
                     store=store)
    live = LiveServer(app, port).start()
    yield live.url
    live.stop()
    store.close()


def test_a_use_case_folder_brings_its_dashboard(plugin_server: str) -> None:
    with httpx.Client(base_url=plugin_server, timeout=30) as client:
        french = client.get("/usecases/airquality")
        assert french.status_code == 200
        assert "<h1>Qualité de l&#39;air</h1>" in french.text or "<h1>Qualité de l'air</h1>" in french.text
        assert "Dioxyde d&#39;azote moyen de chaque station" in french.text
        script = re.search(r'<script src="(/_static/usecases/airquality/dashboard\.js\?v=[^"]+)"', french.text)
        assert script, "the dashboard's script is not on its page"
        served = client.get(script.group(1))
        assert served.status_code == 200 and served.headers["content-type"].startswith("text/javascript")
        assert "/api/v1/airquality/" in served.text
        # the dashboard's messages reach its script in the page's configuration
        assert '"Mean NO2 (µg/m³)":"NO2 moyen (µg/m³)"' in french.text
        english = client.get("/usecases/airquality?lang=en")
        assert "Mean nitrogen dioxide of each station over the last 24 hours" in english.text
        for other in ("usecase.py", "api.py", "i18n/fr.po", "dashboard.html", "../usecase.py"):
            assert client.get(f"/_static/usecases/airquality/{other}").status_code == 404, other
        assert client.get("/usecases/noise").status_code == 200  # the built-in ones are still there


def _folder(tmp: Path, dashboard: str) -> Path:
    """A copy of the air-quality folder whose usecase.py declares ``dashboard`` instead."""
    folder = tmp / f"aq{free_port()}"
    shutil.copytree(PLUGIN, folder)
    source = (folder / "usecase.py").read_text(encoding="utf-8")
    (folder / "usecase.py").write_text(source.replace(
        'dashboard=Dashboard(folder=Path(__file__).parent / "dashboard")', dashboard), encoding="utf-8")
    return folder


def test_broken_dashboard_declarations_are_refused_at_start(tmp_path: Path) -> None:
    missing = _folder(tmp_path, 'dashboard=Dashboard(folder=Path(__file__).parent / "dashboard", script="nope.js")')
    with pytest.raises(UseCaseError, match=r"dashboard of use case 'airquality' names 'nope.js', which is not a file"):
        load_folder(missing)
    outside = _folder(tmp_path, 'dashboard=Dashboard(folder=Path(__file__).parent / "dashboard", '
                                'styles=("../usecase.py",))')
    with pytest.raises(UseCaseError, match=r"names '../usecase.py'"):
        load_folder(outside)
    wrong = _folder(tmp_path, 'dashboard="dashboard/"')
    with pytest.raises(UseCaseError, match="dashboard must be a calanque.usecases.registry.Dashboard"):
        load_folder(wrong)
