"""CSV bulk provisioning through `calanque devices import`, on a temporary SQLite store and a fresh PostgreSQL database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from calanque.cli import main
from calanque.devices.importer import parse_mapping
from calanque.devices.repository import get_device, list_devices
from calanque.store.base import open_store

PG_ADMIN_URL = os.environ.get("CALANQUE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
HEADER = ("dev_eui,name,model,codec,entity_id,entity_type,network,mapping,lon,lat,commune,site,"
          "installed_on,status")
ROWS = 2000


def good_row(i: int) -> str:
    """Row i: a valid noise sensor with DevEUI a840410000000000 + i (upper-case, to test normalisation)."""
    return (f"A84041{i:010X},Sensor {i},Milesight WS302,milesight-ws302,urn:ngsi-ld:NoiseLevelObserved:n{i},"
            f"NoiseLevelObserved,chirpstack,laeq=LAeq:2N|battery=batteryLevel:P1*0.01,5.{i:04d},43.2,"
            f"13055,Site {i % 7},2024-03-01,active")


# Bad rows by index i (file line = i + 2, the header being line 1) with the expected reason.
BAD = {
    99: ("A84041ZZZZ,Bad,Milesight WS302,milesight-ws302,urn:x:1,T,chirpstack,,,,,,,", "bad DevEUI"),
    500: (good_row(500).replace("milesight-ws302", "acme-9000"), "unknown codec 'acme-9000'"),
    901: (good_row(901).replace("43.2,", "143.2,"), "bad coordinates"),
    1202: (good_row(1202).replace(",13055,", ",13A55,"), "bad INSEE commune code"),
    1503: (good_row(0), "duplicate device a840410000000000 (first on line 2)"),
    1804: (",".join(good_row(1804).split(",")[:9]), "missing column(s) lat, commune, site, installed_on, status"),
    1905: (good_row(1905).replace(",Sensor 1905,", ",,"), "missing value in column 'name'"),
}


def write_csv(path: Path) -> set[int]:
    """Write the 2 000-row file; return the indexes of the good rows."""
    lines = [HEADER] + [BAD[i][0] if i in BAD else good_row(i) for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return set(range(ROWS)) - set(BAD)


@pytest.fixture(params=["sqlite", "postgres"])
def store_options(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """CLI options naming a brand-new store: a temporary SQLite dir, or a PostgreSQL database made here."""
    if request.param == "sqlite":
        yield ["--data-dir", str(tmp_path / "data")]
        return
    name = f"calanque_devimport_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield ["--database-url", PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _open(options: list[str]):  # type: ignore[no-untyped-def]
    if options[0] == "--data-dir":
        return open_store(None, options[1])
    return open_store(options[1])


def test_import_reports_bad_lines_and_imports_the_rest(tmp_path: Path, store_options: list[str]) -> None:
    good = write_csv(tmp_path / "devices.csv")
    runner = CliRunner()

    dry = runner.invoke(main, ["devices", "import", str(tmp_path / "devices.csv"), *store_options, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"dry run: {len(good)} valid rows, {len(BAD)} rejected" in dry.stdout

    result = runner.invoke(main, ["devices", "import", str(tmp_path / "devices.csv"), *store_options,
                                  "--tenant", "marseille"])
    assert result.exit_code == 0, result.output
    reported = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert [r.split(":")[0] for r in reported] == [f"line {i + 2}" for i in sorted(BAD)]
    for report, i in zip(reported, sorted(BAD), strict=True):
        assert BAD[i][1] in report, report
    assert f"{len(good)} devices created, 0 updated, {len(BAD)} rows rejected" in result.stdout

    store = _open(store_options)
    try:
        with store.session() as s:
            items, total = list_devices(s, "marseille", limit=1)
            assert total == len(good) == 1993
            assert list_devices(s, "", limit=1)[1] == 0  # another tenant: nothing
            d = get_device(s, "marseille", "a840410000000007")
            assert d is not None and d.location is not None
            assert (d.name, d.location.lon, d.site, d.commune) == ("Sensor 7", 5.0007, "Site 0", "13055")
            assert d.mapping["battery"].scale == 0.01 and d.mapping["battery"].unit_code == "P1"
            assert get_device(s, "marseille", "a8404100000001f4") is None  # row 500: unknown codec
    finally:
        store.close()

    again = runner.invoke(main, ["devices", "import", str(tmp_path / "devices.csv"), *store_options,
                                 "--tenant", "marseille"])
    assert again.exit_code == 0
    assert f"0 devices created, {len(good)} updated" in again.stdout

    listed = runner.invoke(main, ["devices", "list", *store_options, "--tenant", "marseille", "--limit", "3"])
    assert listed.exit_code == 0
    assert listed.stdout.splitlines()[0].startswith("a840410000000000\tactive\tMilesight WS302")
    assert "3 of 1993 devices" in listed.stderr


def test_unusable_files_fail(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    missing = runner.invoke(main, ["devices", "import", str(tmp_path / "nope.csv"), *data])
    assert missing.exit_code != 0 and "no such file" in missing.output

    (tmp_path / "latin1.csv").write_bytes(HEADER.encode() + b"\nSonom\xe8tre\n")
    latin = runner.invoke(main, ["devices", "import", str(tmp_path / "latin1.csv"), *data])
    assert latin.exit_code != 0 and "not UTF-8" in latin.output

    (tmp_path / "header.csv").write_text("dev_eui,name,colour\n", encoding="utf-8")
    header = runner.invoke(main, ["devices", "import", str(tmp_path / "header.csv"), *data])
    assert header.exit_code != 0
    assert "missing column(s) model, codec, entity_id, entity_type, network" in header.output
    assert "unknown column(s) colour" in header.output

    (tmp_path / "allbad.csv").write_text(HEADER + "\n" + BAD[99][0] + "\n", encoding="utf-8")
    allbad = runner.invoke(main, ["devices", "import", str(tmp_path / "allbad.csv"), *data])
    assert allbad.exit_code != 0
    assert "line 2: id: bad DevEUI" in allbad.output or "line 2: bad DevEUI" in allbad.output
    assert "no valid row to import" in allbad.output


def test_semicolon_files_and_mapping_syntax(tmp_path: Path) -> None:
    (tmp_path / "fr.csv").write_text(
        "\ufeffdevice_id;name;model;codec;entity_id;entity_type;network;lon;lat;commune\n"
        "compteur-prado;Compteur Prado;Eco-Counter;cayenne-lpp;urn:ngsi-ld:TrafficFlowObserved:prado;"
        "TrafficFlowObserved;http;5,3861;43,2717;13055\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["devices", "import", str(tmp_path / "fr.csv"), "--data-dir",
                                       str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    store = open_store(None, str(tmp_path / "data"))
    try:
        with store.session() as s:
            d = get_device(s, "", "compteur-prado")
            assert d is not None and d.location is not None and (d.location.lon, d.location.lat) == (5.3861, 43.2717)
    finally:
        store.close()
    assert parse_mapping("t=temperature:CEL*0.1#urn:ngsi-ld:Dataset:probe1") == {
        "t": {"attribute": "temperature", "unitCode": "CEL", "scale": 0.1, "datasetId": "urn:ngsi-ld:Dataset:probe1"}
    }
    with pytest.raises(ValueError, match="mapped twice"):
        parse_mapping("t=temperature:CEL|t=temp:CEL")
    with pytest.raises(ValueError, match="expected key=attribute:UNIT"):
        parse_mapping("temperature")
