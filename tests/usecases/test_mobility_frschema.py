"""Tests of the national "comptage des mobilités" CSV export and import.

Exported files are checked with the independent ``frictionless`` validator against the
reference schema files; imports are checked against hand-written fixtures whose bad lines
are listed by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import frictionless
import pytest

from calanque.usecases.mobility.counts import CountRecord, aggregate
from calanque.usecases.mobility.frschema import (
    Channel,
    Measure,
    Site,
    count_records,
    export_channels,
    export_measures,
    export_sites,
    import_channels,
    import_measures,
    import_sites,
    measures_from_records,
    schema_path,
)

REFERENCE = Path("/work/shared/reference/fr-open-data")
FIXTURES = Path(__file__).parent / "fixtures"
CEST = timezone(timedelta(hours=2))


def reference_schema(kind: str) -> frictionless.Schema:
    """The reference schema as frictionless accepts it.

    The published channel and measure schemas put ``required``/``enum`` on the field itself,
    which frictionless 5 refuses; they are moved under ``constraints`` here (the schema's intent).
    """
    descriptor = json.loads((REFERENCE / f"schema-comptage-mobilites-{kind}.json").read_text(encoding="utf-8"))
    for field in descriptor["fields"]:
        for key in ("required", "enum"):
            if key in field:
                field.setdefault("constraints", {})[key] = field.pop(key)
    return frictionless.Schema.from_descriptor(descriptor)


def frictionless_report(path: Path, kind: str) -> frictionless.Report:
    """Validate a CSV file with frictionless against the reference schema of ``kind``."""
    resource = frictionless.Resource(path=path.name, basepath=str(path.parent), schema=reference_schema(kind))
    return frictionless.validate(resource)


def bad_rows(report: frictionless.Report) -> set[int]:
    """The row numbers (file lines) frictionless reports errors on."""
    return {row for (row,) in report.flatten(["rowNumber"]) if row is not None}


SITES = [
    Site(
        site_id="S-PRADO",
        site_name="Avenue du Prado",
        xlong=5.38321,
        ylat=43.28214,
        fr_insee_code="13206",
        external_ids=("13206-PRADO-1", "13206-PRADO-2"),
        infrastructure_type="CYCLE TRACK",
    ),
    Site(site_id="S-PORT", site_name="Quai du Port, Vieux-Port", xlong=5.37, ylat=43.295, parent_site_id="S-VP"),
]
CHANNELS = [
    Channel(
        channel_id="C-PRADO-V-N",
        site_id="S-PRADO",
        temporality="PERMANENT",
        started_at=datetime(2024, 1, 1, tzinfo=UTC),
        mobility_type=("BIKE",),
        counter_type=("INDUCTIVE LOOP",),
        direction="N",
        provider_direction_code="forward",
        provider_direction_name="Prado vers Castellane",
        counter_transmission_type="REMOTE TRANSMISSION",
        publication_transmission_type="API",
        last_updated_at=datetime(2024, 3, 1, 12, 30, tzinfo=CEST),
        time_step=3600,
    ),
    Channel(
        channel_id="C-PRADO-P-S",
        site_id="S-PRADO",
        temporality="TEMPORARY",
        started_at=datetime(2024, 6, 1, tzinfo=CEST),
        ended_at=datetime(2024, 9, 1, tzinfo=CEST),
        mobility_type=("PEDESTRIAN", "E-SCOOTER"),
        counter_type=("VIDEO SENSOR", "LIDAR"),
        provider_direction_code="backward",
        comment="Campagne été 2024",
        time_step=900.0,
    ),
]
MEASURES = [
    Measure(
        channel_id="C-PRADO-V-N",
        counter_id="EC-101",
        start_datetime=datetime(2024, 2, 1, 7, tzinfo=UTC),
        end_datetime=datetime(2024, 2, 1, 8, tzinfo=UTC),
        count=42,
    ),
    Measure(
        channel_id="C-PRADO-P-S",
        counter_id="EC-102",
        start_datetime=datetime(2024, 6, 1, 9, 15, tzinfo=CEST),
        end_datetime=datetime(2024, 6, 1, 9, 30, tzinfo=CEST),
        count=2.5,
    ),
    Measure(channel_id="C-PRADO-P-S", counter_id="EC-102", start_datetime=datetime(2024, 6, 1, 9, 30, tzinfo=CEST)),
]


def test_packaged_schemas_are_the_reference_files() -> None:
    for kind in ("site", "channel", "measure"):
        packaged = json.loads(schema_path(kind).read_text(encoding="utf-8"))
        reference = json.loads((REFERENCE / f"schema-comptage-mobilites-{kind}.json").read_text(encoding="utf-8"))
        assert packaged == reference


# --- export ----------------------------------------------------------------------------------


def test_exported_files_are_valid_for_frictionless(tmp_path: Path) -> None:
    for kind, export, items in (
        ("site", export_sites, SITES),
        ("channel", export_channels, CHANNELS),
        ("measure", export_measures, MEASURES),
    ):
        path = tmp_path / f"{kind}.csv"
        assert export(items, path) == len(items)  # type: ignore[operator]
        report = frictionless_report(path, kind)
        assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


def test_exported_text_is_exactly_the_schema_layout(tmp_path: Path) -> None:
    export_sites(SITES, tmp_path / "site.csv")
    export_measures(MEASURES, tmp_path / "measure.csv")
    # Columns in schema order; coordinates with >= 4 decimals; multi-values quoted; UTC with Z
    # (09:15+02:00 = 07:15Z); integral counts without decimals; empty count for "not counted".
    assert (tmp_path / "site.csv").read_text(encoding="utf-8") == (
        "site_id,parent_site_id,site_name,fr_insee_code,xlong,ylat,external_ids,infrastructure_type\n"
        'S-PRADO,,Avenue du Prado,13206,5.38321,43.28214,"13206-PRADO-1,13206-PRADO-2",CYCLE TRACK\n'
        'S-PORT,S-VP,"Quai du Port, Vieux-Port",,5.3700,43.2950,,\n'
    )
    assert (tmp_path / "measure.csv").read_text(encoding="utf-8") == (
        "channel_id,counter_id,start_datetime,end_datetime,count\n"
        "C-PRADO-V-N,EC-101,2024-02-01T07:00:00Z,2024-02-01T08:00:00Z,42\n"
        "C-PRADO-P-S,EC-102,2024-06-01T07:15:00Z,2024-06-01T07:30:00Z,2.5\n"
        "C-PRADO-P-S,EC-102,2024-06-01T07:30:00Z,,\n"
    )


def test_frictionless_detects_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "channel.csv"
    export_channels(CHANNELS, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace(",BIKE,", ",VELO,")  # line 2: mode outside the schema's values
    lines[2] = lines[2].replace(",TEMPORARY,", ",,")  # line 3: required temporality emptied
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = frictionless_report(path, "channel")
    assert not report.valid
    assert bad_rows(report) == {2, 3}
    # The module's own import flags the same two lines.
    assert [line for line, _ in import_channels(path).errors] == [2, 3]


@pytest.mark.parametrize(
    ("export", "item", "message"),
    [
        (export_sites, Site(site_id="S", site_name="X", xlong=5.4, ylat=43.3, fr_insee_code="1305"), "fr_insee_code"),
        (export_sites, Site(site_id="S", site_name="", xlong=5.4, ylat=43.3), "site_name is empty"),
        (export_sites, Site(site_id="S", site_name="X", xlong=5.4, ylat=93.3), "out of range"),
        (
            export_channels,
            Channel(channel_id="C", site_id="S", temporality="PERMANENT", started_at=datetime(2024, 1, 1)),
            "no time zone",
        ),
        (
            export_channels,
            Channel(
                channel_id="C",
                site_id="S",
                temporality="PERMANENT",
                started_at=datetime(2024, 1, 1, tzinfo=UTC),
                mobility_type=("VELO",),
            ),
            "VELO",
        ),
        (
            export_measures,
            Measure(channel_id="C", counter_id="K", start_datetime=datetime(2024, 1, 1, tzinfo=UTC), count=-1),
            "negative",
        ),
    ],
)
def test_export_refuses_nonconforming_rows(tmp_path: Path, export: Any, item: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        export([item], tmp_path / "out.csv")


def test_export_refuses_duplicate_primary_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate site_id 'S-PRADO'"):
        export_sites([SITES[0], SITES[0]], tmp_path / "site.csv")


# --- import of hand-written fixtures ----------------------------------------------------------


def test_import_sites_fixture() -> None:
    result = import_sites(FIXTURES / "comptage_site_mixed.csv")
    # Line 3: INSEE code of 4 digits ; 4: latitude 143.28 ; 5: no site_name ; 6: unknown infrastructure.
    assert [line for line, _ in result.errors] == [3, 4, 5, 6]
    assert [site.site_id for site in result.rows] == ["S-PRADO", "S-VIEUXPORT"]
    reasons = dict(result.errors)
    assert "fr_insee_code '1305'" in reasons[3]
    assert "ylat" in reasons[4] and "between -90 and 90" in reasons[4]
    assert "site_name is empty" in reasons[5]
    assert "'PISTE CYCLABLE' is not allowed" in reasons[6]
    assert result.rows[0] == Site(
        site_id="S-PRADO",
        site_name="Avenue du Prado",
        xlong=5.38321,
        ylat=43.28214,
        fr_insee_code="13206",
        external_ids=("13206-PRADO-1", "13206-PRADO-2"),
        infrastructure_type="CYCLE TRACK",
    )
    # frictionless flags exactly the same lines.
    assert bad_rows(frictionless_report(FIXTURES / "comptage_site_mixed.csv", "site")) == {3, 4, 5, 6}


def test_import_channels_fixture() -> None:
    result = import_channels(FIXTURES / "comptage_channel_mixed.csv")
    # Line 4: unknown mode VELO ; 5: no temporality ; 7: channel_id of line 2 again ;
    # 8: started_at without UTC offset (stricter than frictionless, which accepts naive times).
    assert [line for line, _ in result.errors] == [4, 5, 7, 8]
    assert [c.channel_id for c in result.rows] == ["C-PRADO-V-N", "C-PRADO-P-S", "C-CORNICHE"]
    reasons = dict(result.errors)
    assert "'VELO'" in reasons[4] and "BIKE" in reasons[4] and "PEDESTRIAN" in reasons[4]
    assert "temporality is empty" in reasons[5]
    assert "duplicate channel_id 'C-PRADO-V-N' (first on line 2)" in reasons[7]
    assert "no UTC offset" in reasons[8]
    corniche = result.rows[2]
    assert corniche.mobility_type == ("BIKE", "PEDESTRIAN")
    assert corniche.counter_type == ("VIDEO SENSOR", "LIDAR")
    assert corniche.started_at == datetime(2024, 5, 31, 22, tzinfo=UTC)  # 2024-06-01T00:00:00+0200
    assert corniche.time_step is None
    assert result.rows[1].started_at == datetime(2023, 12, 31, 23, tzinfo=UTC)  # +01:00
    assert bad_rows(frictionless_report(FIXTURES / "comptage_channel_mixed.csv", "channel")) == {4, 5, 7}


def test_import_measures_fixture_alone() -> None:
    result = import_measures(FIXTURES / "comptage_measure_mixed.csv")
    # 3: 30 February ; 4: count -3 ; 5: no counter_id ; 8: end before start ; 9: count "12,5" ;
    # 13: 4 values for 5 columns. Line 11 is an empty line: skipped, not an error.
    assert [line for line, _ in result.errors] == [3, 4, 5, 8, 9, 13]
    assert len(result.rows) == 6  # lines 2, 6, 7, 10, 12, 14
    reasons = dict(result.errors)
    assert "start_datetime '2024-02-30T08:00:00Z' is not a valid date-time" in reasons[3]
    assert "count -3 is negative" in reasons[4]
    assert "counter_id is empty" in reasons[5]
    assert "is not after start_datetime" in reasons[8]
    assert "use a dot as decimal separator" in reasons[9]
    assert "4 values" in reasons[13]
    rows = result.rows
    assert rows[0] == Measure(
        channel_id="C-PRADO-V-N",
        counter_id="EC-101",
        start_datetime=datetime(2024, 2, 1, 7, tzinfo=UTC),
        end_datetime=datetime(2024, 2, 1, 8, tzinfo=UTC),
        count=42,
    )
    assert rows[1].count is None  # line 6: empty count = not counted
    assert rows[2].start_datetime == datetime(2024, 2, 1, 7, 30, tzinfo=UTC)  # 08:30+01
    assert rows[3].count == 2.5
    assert rows[4].end_datetime is None  # line 12
    # frictionless agrees on the schema errors (3, 5, 9, 13) and also flags the empty line 11;
    # it does not know the domain rules (negative count on 4, reversed interval on 8).
    assert bad_rows(frictionless_report(FIXTURES / "comptage_measure_mixed.csv", "measure")) == {3, 5, 9, 11, 13}


def test_import_measures_checks_channels_when_given() -> None:
    channels = {c.channel_id: c for c in import_channels(FIXTURES / "comptage_channel_mixed.csv").rows}
    result = import_measures(FIXTURES / "comptage_measure_mixed.csv", channels)
    # Also 12: empty end_datetime while C-CORNICHE has no time_step ; 14: unknown channel.
    assert [line for line, _ in result.errors] == [3, 4, 5, 8, 9, 12, 13, 14]
    assert len(result.rows) == 4
    reasons = dict(result.errors)
    assert "has no time_step" in reasons[12]
    assert "channel_id '01/02/2024 10:00' is not in the channel file" in reasons[14]


def test_import_header_problems_and_encodings(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    missing.write_text("channel_id,start_datetime,count\nC,2024-01-01T00:00:00Z,3\n", encoding="utf-8")
    result = import_measures(missing)
    assert result.rows == []
    assert len(result.errors) == 1 and result.errors[0][0] == 1
    assert "missing required column(s) counter_id" in result.errors[0][1]

    # Semicolons, a BOM, a missing optional column and an unknown one: rows still import.
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_bytes(
        "\ufeffchannel_id;counter_id;start_datetime;count;remark\nC;K;2024-01-01T00:00:00Z;3;ok\n".encode()
    )
    result = import_measures(semicolons)
    assert [(m.channel_id, m.count) for m in result.rows] == [("C", 3)]
    assert [line for line, _ in result.errors] == [1, 1]
    assert "end_datetime missing" in result.errors[0][1] and "remark" in result.errors[1][1]

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("site_id,site_name,xlong,ylat\nS,Châteaux,5.4,43.3\n".encode("latin-1"))
    result = import_sites(latin1)
    assert result.rows == [] and result.errors[0][0] == 2 and "not UTF-8" in result.errors[0][1]


# --- round trips --------------------------------------------------------------------------


def test_round_trip_export_then_import(tmp_path: Path) -> None:
    export_sites(SITES, tmp_path / "site.csv")
    export_channels(CHANNELS, tmp_path / "channel.csv")
    export_measures(MEASURES, tmp_path / "measure.csv")
    sites = import_sites(tmp_path / "site.csv")
    channels = import_channels(tmp_path / "channel.csv")
    by_id = {c.channel_id: c for c in channels.rows}
    measures = import_measures(tmp_path / "measure.csv", by_id)
    assert (sites.errors, channels.errors, measures.errors) == ([], [], [])
    assert sites.rows == SITES
    assert channels.rows == CHANNELS
    assert measures.rows == MEASURES


def test_round_trip_from_count_records(tmp_path: Path) -> None:
    # Hourly bike counts in two directions over a Paris day, exported then read back as records.
    start = datetime(2024, 6, 1, tzinfo=CEST)
    records = [
        CountRecord(start + timedelta(hours=h), start + timedelta(hours=h + 1), direction, h + offset)
        for h in range(24)
        for direction, offset in (("forward", 0), ("backward", 100))
    ]
    channels = {
        c.channel_id: c
        for c in (
            Channel(channel_id="C-F", site_id="S", temporality="PERMANENT", started_at=start,
                    mobility_type=("BIKE",), provider_direction_code="forward", time_step=3600),
            Channel(channel_id="C-B", site_id="S", temporality="PERMANENT", started_at=start,
                    mobility_type=("BIKE",), provider_direction_code="backward", time_step=3600),
        )
    }
    measures = measures_from_records(records, {"forward": "C-F", "backward": "C-B"}, counter_id="EC-1")
    export_measures(measures, tmp_path / "measure.csv")
    assert frictionless_report(tmp_path / "measure.csv", "measure").valid
    imported = import_measures(tmp_path / "measure.csv", channels)
    assert imported.errors == []
    back = count_records(imported.rows, channels)
    assert back == records
    # forward: 0 + 1 + ... + 23 = 276 ; backward: 276 + 24 x 100 = 2676.
    (day,) = aggregate(back, start, start + timedelta(days=1), "day")
    assert day["counts"] == {"backward": 2676, "forward": 276}


def test_count_records_uses_time_step_and_skips_gaps() -> None:
    channel = Channel(channel_id="C", site_id="S", temporality="PERMANENT",
                      started_at=datetime(2024, 1, 1, tzinfo=UTC), direction="N", time_step=900)
    start = datetime(2024, 1, 1, 8, tzinfo=UTC)
    measures = [
        Measure(channel_id="C", counter_id="K", start_datetime=start, count=4),
        Measure(channel_id="C", counter_id="K", start_datetime=start + timedelta(minutes=15)),
    ]
    assert count_records(measures, {"C": channel}) == [
        CountRecord(start, start + timedelta(minutes=15), "N", 4)
    ]
    with pytest.raises(ValueError, match="unknown channel_id 'C'"):
        count_records(measures, {})


# --- an Eco-Counter sized file ----------------------------------------------------------------


def test_import_of_a_city_sized_eco_counter_file_is_fast(tmp_path: Path) -> None:
    # 4 channels x 1250 hours = 5000 rows in Eco-Counter's style (+02 offsets), with every
    # 1000th data row given a negative count: 5 bad rows.
    lines = ["channel_id,counter_id,start_datetime,end_datetime,count"]
    first = datetime(2021, 9, 15, tzinfo=CEST)
    for hour in range(1250):
        start = first + timedelta(hours=hour)
        end = start + timedelta(hours=1)
        for channel in ("353226361", "353226370", "353226396", "353226405"):
            count = -1 if len(lines) % 1000 == 0 else hour % 50
            lines.append(
                f"{channel},CPTTEST2031,{start.strftime('%Y-%m-%dT%H:%M:%S%z')[:-2]},"
                f"{end.strftime('%Y-%m-%dT%H:%M:%S%z')[:-2]},{count}"
            )
    path = tmp_path / "eco.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = import_measures(path)
    # Data row i (0-based list index i) is file line i + 1; indices 1000..5000 step 1000 are bad.
    assert [line for line, _ in result.errors] == [1001, 2001, 3001, 4001, 5001]
    assert len(result.rows) == 4995
    assert result.rows[0].start_datetime == datetime(2021, 9, 14, 22, tzinfo=UTC)
