"""Source ids, building heights and metadata property columns from Arrow attribute tables."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from twin.errors import InputError
from twin.ingest.attributes import (
    HEIGHT_NAMES,
    ID_NAMES,
    STOREY_NAMES,
    building_heights,
    find_column,
    numeric,
    source_ids,
)
from twin.ingest.model import IngestLog
from twin.tiles.metadata import (
    FLOAT_NODATA,
    INT32_NODATA,
    INT64_NODATA,
    UINT8_NODATA,
    PropertyColumn,
    build_columns,
    column_for,
    schema,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BRITTANY = DATA / "footprints" / "osm-brittany" / "BUILDING.geojson"
PATH = Path("/data/buildings.gpkg")


@dataclass(frozen=True)
class Options:
    """The height fields of twin.ingest.footprints.FootprintOptions, with the same defaults."""

    height_attr: str | None = None
    storeys_attr: str | None = None
    storey_height: float = 3.0
    default_height: float = 10.0


def ids_of(table: pa.Table, fids: Any = None, id_attr: str | None = None) -> tuple[list[str], IngestLog]:
    log = IngestLog()
    ids = source_ids(table, fids, id_attr, PATH, log)
    assert isinstance(ids, pa.Array)
    assert pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)
    assert len(ids) == table.num_rows
    return ids.to_pylist(), log


def heights_of(table: pa.Table, **options: Any) -> tuple[list[float], list[str], IngestLog]:
    log = IngestLog()
    height, rule = building_heights(table, Options(**options), PATH, log)
    assert height.dtype == np.float64
    assert isinstance(rule, pa.Array)
    assert pa.types.is_string(rule.type) or pa.types.is_large_string(rule.type)
    return height.tolist(), rule.to_pylist(), log


def column(values: pa.Array | pa.ChunkedArray, name: str = "a") -> PropertyColumn:
    return column_for(name, name, values)


def decode(col: PropertyColumn, start: int = 0, stop: int | None = None) -> list[Any]:
    """The values of rows [start, stop) as a glTF reader would decode `col.slice` (noData kept)."""
    if stop is None:
        if col.fixed is not None:
            stop = len(col.fixed)
        elif col.booleans is not None:
            stop = len(col.booleans)
        else:
            assert col.offsets is not None
            stop = len(col.offsets) - 1
    parts = col.slice(start, stop)
    kind = col.definition["type"]
    if kind == "STRING":
        offsets = np.frombuffer(parts["stringOffsets"], dtype=np.uint32)
        assert len(offsets) == stop - start + 1 and offsets[0] == 0 and offsets[-1] == len(parts["values"])
        return [parts["values"][a:b].decode("utf-8") for a, b in itertools.pairwise(offsets)]
    if kind == "BOOLEAN":
        bits = np.unpackbits(np.frombuffer(parts["values"], dtype=np.uint8), bitorder="little")
        return [bool(b) for b in bits[: stop - start]]
    dtype = {
        "UINT8": np.uint8,
        "INT32": np.int32,
        "INT64": np.int64,
        "FLOAT32": np.float32,
        "FLOAT64": np.float64,
    }
    return np.frombuffer(parts["values"], dtype=dtype[col.definition["componentType"]]).tolist()


# --- column names ------------------------------------------------------------------------------------


def test_name_lists_are_lower_case_for_case_insensitive_matching() -> None:
    for names in (HEIGHT_NAMES, STOREY_NAMES, ID_NAMES):
        assert all(name == name.lower() for name in names)


def test_find_column_exact_then_case_insensitive_then_name_list() -> None:
    columns = ["ID", "id", "Hoehe", "Geschosse"]
    assert find_column(columns, "id", [], PATH, "--id-attr") == "id"
    assert find_column(columns, "HOEHE", [], PATH, "--height-attr") == "Hoehe"
    assert find_column(columns, None, HEIGHT_NAMES, PATH, "--height-attr") == "Hoehe"
    assert find_column(columns, "", STOREY_NAMES, PATH, "--storeys-attr") == "Geschosse"
    assert find_column(columns, None, ["height"], PATH, "--height-attr") is None
    with pytest.raises(
        InputError, match=r"buildings\.gpkg: no attribute 'hgt' for --height-attr; attributes are: ID, id"
    ):
        find_column(columns, "hgt", HEIGHT_NAMES, PATH, "--height-attr")


# --- numbers -----------------------------------------------------------------------------------------


def test_numeric_reads_numbers_out_of_text() -> None:
    text = pa.array(["12,5", "12.5 m", " 7 ", None, "abc", "-3", "ca. 4", "", "1.2.3"])
    expected = [12.5, 12.5, 7.0, np.nan, np.nan, -3.0, 4.0, np.nan, 1.2]
    np.testing.assert_array_equal(numeric(text), expected)
    np.testing.assert_array_equal(numeric(text.cast(pa.large_string())), expected)
    np.testing.assert_array_equal(numeric(text.dictionary_encode()), expected)
    np.testing.assert_array_equal(numeric(pa.chunked_array([text[:3], text[3:]])), expected)


def test_numeric_types() -> None:
    np.testing.assert_array_equal(numeric(pa.array([1, None, 3], pa.int16())), [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(numeric(pa.array([1.5, None, np.nan], pa.float32())), [1.5, np.nan, np.nan])
    np.testing.assert_array_equal(numeric(pa.array([decimal.Decimal("2.50"), None])), [2.5, np.nan])
    np.testing.assert_array_equal(numeric(pa.array([True, False, None])), [np.nan] * 3)  # not numbers
    np.testing.assert_array_equal(numeric(pa.nulls(2)), [np.nan] * 2)
    assert numeric(pa.array([], pa.string())).dtype == np.float64


# --- source ids --------------------------------------------------------------------------------------


def test_unique_integer_id_column_as_plain_decimals() -> None:
    table = pa.table({"name": ["a", "b", "c"], "OBJECTID": pa.array([123, 7, 2**40], pa.int64())})
    assert ids_of(table)[0] == ["123", "7", "1099511627776"]


def test_float_ids_that_are_whole_numbers_lose_their_fraction() -> None:
    table = pa.table({"osm_id": [1.0, 2.0, 3.5, 1e20, -4.0, 12345678901.0]})
    assert ids_of(table)[0] == ["1", "2", "3.5", "1e+20", "-4", "12345678901"]


def test_id_names_in_order_case_insensitive_skipping_columns_with_nulls() -> None:
    table = pa.table({
        "ID": [1, 2, 3],
        "GML_ID": ["g1", None, "g3"],  # preferred by name, but incomplete
        "uuid": ["u1", "u2", "u3"],
    })  # fmt: skip
    assert ids_of(table)[0] == ["1", "2", "3"]
    table = pa.table({"uuid": ["u1", "u2", "u3"], "Gml_Id": ["g1", "g2", "g3"]})
    assert ids_of(table)[0] == ["g1", "g2", "g3"]


def test_float_id_column_with_nan_is_not_complete() -> None:
    table = pa.table({"id": [1.0, np.nan, 3.0], "oid": [7, 8, 9]})
    assert ids_of(table)[0] == ["7", "8", "9"]


def test_a_unique_column_wins_over_an_earlier_one_with_repeats() -> None:
    table = pa.table({"gml_id": ["a"] * 19 + ["b"], "id": list(range(20))})
    ids, log = ids_of(table)
    assert ids == [str(i) for i in range(20)]
    assert log.warnings == []


def test_ids_with_few_repeats_are_used_with_a_warning() -> None:
    values = [f"w{i}" for i in range(19)] + ["w0"]  # 19 distinct of 20: exactly 95 %
    ids, log = ids_of(pa.table({"osm_id": values}), fids=np.array([str(i) for i in range(20)], dtype=object))
    assert ids == values
    assert log.warnings == [f"{PATH}: source ids in 'osm_id' are not unique (1 repeats)"]


def test_ids_with_many_repeats_fall_back_to_fids() -> None:
    values = [f"w{i}" for i in range(18)] + ["w0", "w1"]  # 90 %
    fids = np.array([str(i + 1) for i in range(20)], dtype=object)
    ids, log = ids_of(pa.table({"osm_id": values}), fids=fids)
    assert ids == list(fids)
    assert log.warnings == []


@pytest.mark.parametrize(
    "fids",
    [
        np.array(["10", "11", "12"], dtype=object),
        np.array([10, 11, 12]),
        pa.array([10, 11, 12], pa.int64()),
        pa.chunked_array([["10"], ["11", "12"]]),
    ],
)
def test_container_fids(fids: Any) -> None:
    assert ids_of(pa.table({"name": ["a", "b", "c"]}), fids=fids)[0] == ["10", "11", "12"]


def test_fallback_names_from_the_file_stem() -> None:
    table = pa.table({"name": ["a", "b", "c"]})
    assert ids_of(table)[0] == ["buildings.0", "buildings.1", "buildings.2"]
    assert ids_of(table, fids=np.array(["1", "1", "2"], dtype=object))[0] == [
        "buildings.0",
        "buildings.1",
        "buildings.2",
    ]
    rows_only = pa.table({"_": pa.nulls(2)}).select([])
    assert ids_of(rows_only)[0] == ["buildings.0", "buildings.1"]


def test_id_attr_nulls_become_empty_strings() -> None:
    table = pa.table({"gml_id": ["a", "b", "c"], "Nummer": pa.array([5, None, 5], pa.int32())})
    ids, log = ids_of(table, id_attr="nummer")
    assert ids == ["5", "", "5"]
    assert log.warnings == []
    floats = pa.table({"n": [1.0, None, np.nan, 2.5]})
    assert ids_of(floats, id_attr="n")[0] == ["1", "", "", "2.5"]


def test_missing_id_attr_names_the_file() -> None:
    table = pa.table({"gml_id": ["a"], "Name": ["x"]})
    with pytest.raises(
        InputError, match=r"buildings\.gpkg: no attribute 'nr' for --id-attr; attributes are: gml_id, Name"
    ):
        source_ids(table, None, "nr", PATH, IngestLog())


def test_dictionary_and_chunked_id_columns() -> None:
    chunked = pa.chunked_array(
        [pa.array(["a", "b"]).dictionary_encode(), pa.array(["c"]).dictionary_encode()]
    )
    table = pa.table({"gml_id": chunked})
    assert ids_of(table)[0] == ["a", "b", "c"]


# --- heights -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Höhe", "hoehe", "HEIGHT", "Gebäudehöhe", "measuredHeight"])
def test_height_attribute_names(name: str) -> None:
    height, rule, _ = heights_of(pa.table({name: [12.0, 7.5]}))
    assert height == [12.0, 7.5]
    assert rule == [f"attribute:{name}"] * 2


def test_height_from_text_with_decimal_commas_and_units() -> None:
    table = pa.table({"Höhe": ["12,5", "12.5 m", " 7 ", None, "unbekannt"]})
    height, rule, _ = heights_of(table)
    assert height == [12.5, 12.5, 7.0, 10.0, 10.0]
    assert rule == ["attribute:Höhe"] * 3 + ["default"] * 2


def test_height_preference_follows_the_name_list() -> None:
    table = pa.table({"height_wall": [3.0], "HEIGHT_ROOF": [6.0], "hoehe": [9.0]})
    height, rule, _ = heights_of(table)
    assert (height, rule) == ([9.0], ["attribute:hoehe"])


def test_implausible_zero_and_negative_heights_are_ignored() -> None:
    table = pa.table({"height": [1500.0, 0.0, -3.0, 20.0, 2000.0, np.inf], "storeys": [2, 2, None, 2, 1, 3]})
    height, rule, log = heights_of(table)
    assert height == [6.0, 6.0, 10.0, 20.0, 3.0, 9.0]
    assert rule == ["storeys", "storeys", "default", "attribute:height", "storeys", "storeys"]
    assert log.warnings == ["2 heights in 'height' above 1000 m ignored"]


def test_missing_heights_are_counted() -> None:
    """Shapefiles write '*******' where a number overflowed its field; empty and NaN heights count too."""
    table = pa.table(
        {"HAUTEUR": ["12.5", "*******", None, "NaN", ""], "nombre_etages": [None, 2, None, None, 1]}
    )
    height, rule, log = heights_of(table)
    assert height == [12.5, 6.0, 10.0, 10.0, 3.0]
    assert rule == ["attribute:HAUTEUR", "storeys", "default", "default", "storeys"]
    assert log.repaired == {
        "height in 'HAUTEUR' missing or not a number (empty, NaN, '*******'): next rule used": 4
    }


def test_storeys_fallback_with_storey_height() -> None:
    table = pa.table({"Anzahl_Geschosse": ["2", "0", "400", "1,5", None, "3 OG"]})
    height, rule, log = heights_of(table, storey_height=3.5, default_height=8.0)
    assert height == [7.0, 8.0, 8.0, 5.25, 8.0, 10.5]
    assert rule == ["storeys", "default", "default", "storeys", "default", "storeys"]
    assert log.warnings == []


def test_explicit_attributes_and_default() -> None:
    table = pa.table({"h": [4.0, None], "g": pa.array([None, 2], pa.int8()), "height": [99.0, 99.0]})
    height, rule, _ = heights_of(table, height_attr="H", storeys_attr="g")
    assert (height, rule) == ([4.0, 6.0], ["attribute:h", "storeys"])
    height, rule, _ = heights_of(pa.table({"name": ["a", "b"]}), default_height=12.0)
    assert (height, rule) == ([12.0, 12.0], ["default", "default"])
    with pytest.raises(InputError, match=r"buildings\.gpkg: no attribute 'levels_x' for --storeys-attr"):
        heights_of(table, storeys_attr="levels_x")


def test_boolean_height_column_is_not_a_number() -> None:
    height, rule, _ = heights_of(pa.table({"height": [True, False]}))
    assert (height, rule) == ([10.0, 10.0], ["default", "default"])


# --- metadata columns --------------------------------------------------------------------------------


def test_booleans() -> None:
    values = [True, False, True] * 5
    col = column(pa.array(values))
    assert col.definition == {"name": "a", "type": "BOOLEAN"}
    assert decode(col) == values
    assert decode(col, 3, 12) == values[3:12]
    col = column(pa.array([True, None, False]))
    assert col.definition == {"name": "a", "type": "SCALAR", "componentType": "UINT8", "noData": UINT8_NODATA}
    assert decode(col) == [1, 255, 0]


def test_integers() -> None:
    col = column(pa.array([1, -2, None], pa.int8()))
    assert col.definition == {"name": "a", "type": "SCALAR", "componentType": "INT32", "noData": INT32_NODATA}
    assert decode(col) == [1, -2, INT32_NODATA]
    col = column(pa.array([1, 2**31 - 1], pa.int64()))
    assert col.definition == {"name": "a", "type": "SCALAR", "componentType": "INT32"}
    assert decode(col) == [1, 2**31 - 1]
    col = column(pa.array([2**31, None], pa.uint32()))
    assert col.definition == {"name": "a", "type": "SCALAR", "componentType": "INT64", "noData": INT64_NODATA}
    assert decode(col) == [2**31, INT64_NODATA]
    col = column(pa.array([-(2**31), 0], pa.int32()))  # INT32 min is the noData value: INT64
    assert col.definition["componentType"] == "INT64"
    assert decode(col) == [-(2**31), 0]
    col = column(pa.array([None, None], pa.int64()))
    assert col.definition["componentType"] == "INT32"
    assert decode(col) == [INT32_NODATA, INT32_NODATA]


def test_uint64_beyond_int64_becomes_text() -> None:
    col = column(pa.array([2**64 - 1, 5, None], pa.uint64()))
    assert col.definition == {"name": "a", "type": "STRING", "noData": ""}
    assert decode(col) == ["18446744073709551615", "5", ""]
    assert column(pa.array([2**63 - 1], pa.uint64())).definition["componentType"] == "INT64"


@pytest.mark.parametrize("kind", [pa.float16(), pa.float32(), pa.float64()])
def test_floats_of_any_width(kind: pa.DataType) -> None:
    col = column(pa.array(np.array([1.5, 2.0], dtype=kind.to_pandas_dtype())))
    assert col.definition == {"name": "a", "type": "SCALAR", "componentType": "FLOAT64"}
    assert decode(col) == [1.5, 2.0]
    values = np.array([1.5, np.nan, np.inf, -np.inf], dtype=kind.to_pandas_dtype())
    col = column(pa.array(values, kind).fill_null(0).take(pa.array([0, 1, 2, 3, None])))
    assert col.definition == {
        "name": "a",
        "type": "SCALAR",
        "componentType": "FLOAT64",
        "noData": FLOAT_NODATA,
    }
    assert decode(col) == [1.5] + [FLOAT_NODATA] * 4


def test_float_sentinel_avoids_values_present() -> None:
    col = column(pa.array([FLOAT_NODATA, None, 1.0]))
    assert col.definition["noData"] == -9999.0
    assert decode(col) == [FLOAT_NODATA, -9999.0, 1.0]
    col = column(pa.array([FLOAT_NODATA, -9999.0, np.nan]))
    assert col.definition["noData"] == -1e300
    col = column(pa.array([FLOAT_NODATA, -9999.0, -1e300, 2.5, np.nan, None, np.inf]))
    assert col.definition == {"name": "a", "type": "STRING", "noData": ""}
    assert decode(col) == ["-3.4028234663852886e+38", "-9999", "-1e+300", "2.5", "", "", "inf"]


def test_timestamps_dates_and_times_as_iso_8601() -> None:
    stamps = [dt.datetime(2024, 5, 1, 12, 30), None, dt.datetime(2024, 5, 1, 12, 30, 5, 250000)]
    col = column(pa.array(stamps, pa.timestamp("us")))
    assert col.definition == {"name": "a", "type": "STRING", "noData": ""}
    assert decode(col) == ["2024-05-01T12:30:00", "", "2024-05-01T12:30:05.250000"]
    utc = [dt.datetime(2024, 5, 1, 10, 30, tzinfo=dt.UTC)]
    assert decode(column(pa.array(utc, pa.timestamp("ms", tz="Europe/Berlin")))) == [
        "2024-05-01T12:30:00+02:00"
    ]
    assert decode(column(pa.array(utc, pa.timestamp("s", tz="UTC")))) == ["2024-05-01T10:30:00Z"]
    assert decode(column(pa.array([dt.date(2024, 5, 1), None], pa.date32()))) == ["2024-05-01", ""]
    assert decode(column(pa.array([dt.date(2024, 5, 1)], pa.date64()))) == ["2024-05-01"]
    times = [dt.time(8, 15), dt.time(8, 15, 0, 500)]
    assert decode(column(pa.array(times, pa.time64("us")))) == ["08:15:00", "08:15:00.000500"]


def test_strings() -> None:
    for kind in (pa.string(), pa.large_string(), pa.string_view()):
        col = column(pa.array(["Haus", None, "Gebäude", ""], kind))
        assert col.definition == {"name": "a", "type": "STRING", "noData": ""}
        assert decode(col) == ["Haus", "", "Gebäude", ""]
    col = column(pa.array(["Haus", "Gebäude"]))
    assert col.definition == {"name": "a", "type": "STRING"}
    dictionary = pa.chunked_array(
        [pa.array(["x", None]).dictionary_encode(), pa.array(["y", "x"]).dictionary_encode()]
    )
    col = column(dictionary)
    assert col.definition == {"name": "a", "type": "STRING", "noData": ""}
    assert decode(col) == ["x", "", "y", "x"]


def test_empty_string_columns() -> None:
    col = column(pa.array(["", "", ""]))
    assert col.definition == {"name": "a", "type": "STRING"}
    assert col.data == b""
    assert col.slice(0, 3) == {"values": b"", "stringOffsets": bytes(16)}
    col = column(pa.array([], pa.string()))
    assert col.slice(0, 0) == {"values": b"", "stringOffsets": bytes(4)}
    col = column(pa.nulls(3))
    assert col.definition == {"name": "a", "type": "STRING", "noData": ""}
    assert decode(col) == ["", "", ""]


def test_nested_and_other_types_as_json_text() -> None:
    col = column(pa.array([[1, 2], None, []]))
    assert col.definition == {"name": "a", "type": "STRING", "noData": ""}
    assert decode(col) == ["[1, 2]", "", "[]"]
    structs = pa.array([{"use": "Wohnen", "floors": 2}, {"use": None, "floors": 1}])
    assert decode(column(structs)) == ['{"use": "Wohnen", "floors": 2}', '{"use": null, "floors": 1}']
    assert decode(column(pa.array([decimal.Decimal("1.50"), None], pa.decimal128(5, 2)))) == ["1.50", ""]
    assert decode(column(pa.array([b"\x00\xff", None]))) == ["00ff", ""]
    stamps = pa.array([[dt.date(2024, 5, 1)]])
    assert decode(column(stamps)) == ['["2024-05-01"]']


def test_build_columns_puts_twins_own_properties_first() -> None:
    ids = pa.array(["a", "b", "c"])
    rule = pa.array(["attribute:height", "storeys", "default"])
    attributes = pa.table({"height": [12.0, None, 3.0], "Gebäudehöhe": [1, 2, 3], "1st": ["x", "y", "z"]})
    columns = build_columns(ids, np.array([12.0, 6.0, 10.0]), rule, attributes)
    assert [c.id for c in columns] == [
        "source_id",
        "height",
        "height_rule",
        "height_2",
        "Gebaeudehoehe",
        "_1st",
    ]
    assert [c.name for c in columns][3:] == ["height", "Gebäudehöhe", "1st"]
    assert columns[0].definition == {
        "name": "source id",
        "type": "STRING",
        "description": "id of the source feature",
    }
    assert columns[1].definition == {
        "name": "height (m)", "type": "SCALAR", "componentType": "FLOAT32",
        "description": "building height used for the model, metres",
    }  # fmt: skip
    assert columns[2].definition == {
        "name": "height rule", "type": "STRING",
        "description": "where the height came from: attribute:<name>, storeys or default",
    }  # fmt: skip
    assert decode(columns[0]) == ["a", "b", "c"]
    assert columns[1].fixed is not None and columns[1].fixed.dtype == np.float32
    assert decode(columns[1]) == [12.0, 6.0, 10.0]
    assert decode(columns[2]) == rule.to_pylist()
    assert columns[3].definition["noData"] == FLOAT_NODATA
    properties = schema(columns)["classes"]["building"]["properties"]
    assert list(properties) == [c.id for c in columns]


def test_slice_round_trip_from_a_sliced_chunked_table() -> None:
    rng = np.random.default_rng(7)
    count = 1000
    words = np.array(["", "Haus", "Gebäude", "Wohngebäude mit Ladengeschäft", "ß"], dtype=object)
    text = [
        None if r < 0.1 else str(words[i])
        for r, i in zip(rng.random(count), rng.integers(0, 5, count), strict=True)
    ]
    table = pa.table({
        "text": pa.array(text, pa.large_string()),
        "n": pa.array(rng.integers(-5, 5, count), pa.int64()),
        "f": pa.array(rng.random(count)),
        "b": pa.array(rng.random(count) < 0.5),
    })  # fmt: skip
    chunked = pa.concat_tables([table.slice(0, 300), table.slice(300)]).slice(
        100, 800
    )  # offsets into buffers
    ids = pa.array([f"id{i}" for i in range(count)], pa.large_string()).slice(100, 800)
    columns = build_columns(ids, np.arange(800, dtype=np.float64), pa.array(["default"] * 800), chunked)
    by_id = {c.id: c for c in columns}
    start, stop = 250, 611
    expected = chunked.slice(start, stop - start)
    assert decode(by_id["source_id"], start, stop) == [f"id{i}" for i in range(100 + start, 100 + stop)]
    assert decode(by_id["text"], start, stop) == [v or "" for v in expected.column("text").to_pylist()]
    assert decode(by_id["n"], start, stop) == expected.column("n").to_pylist()
    assert decode(by_id["f"], start, stop) == expected.column("f").to_pylist()
    assert decode(by_id["b"], start, stop) == expected.column("b").to_pylist()
    assert decode(by_id["height"], start, stop) == list(np.arange(start, stop, dtype=np.float32))
    whole = by_id["text"]
    assert whole.offsets is not None and whole.offsets[0] == 0 and whole.offsets[-1] == len(whole.data)


# --- a real file -------------------------------------------------------------------------------------


def test_osm_brittany_ids_heights_and_columns() -> None:
    if not BRITTANY.exists():
        pytest.skip(f"shared test data not present: {BRITTANY}")
    pyogrio = pytest.importorskip("pyogrio")
    _, table = pyogrio.read_arrow(str(BRITTANY), return_fids=True)
    fids = table.column("OGC_FID").to_numpy().astype(str)
    table = table.drop_columns(["OGC_FID", "wkb_geometry"])
    assert table.column_names == [
        "ID_SOURCE", "HEIGHT_WALL", "HEIGHT_ROOF", "NB_LEV", "TYPE", "MAIN_USE", "ZINDEX", "ID_BUILD",
    ]  # fmt: skip
    assert table.num_rows == 2506

    # ID_SOURCE (OSM way/relation ids) has 3 repeats: still the ids, with a warning.
    log = IngestLog()
    ids = source_ids(table, fids, None, BRITTANY, log)
    assert ids.to_pylist() == table.column("ID_SOURCE").to_pylist()
    assert ids.to_pylist()[:3] == ["w144655681", "w144655684", "w144655688"]
    assert log.warnings == [f"{BRITTANY}: source ids in 'ID_SOURCE' are not unique (3 repeats)"]
    # Without it, the GeoJSON feature ids (0..n-1, unique) name the buildings.
    log = IngestLog()
    ids = source_ids(table.drop_columns(["ID_SOURCE"]), fids, None, BRITTANY, log)
    assert ids.to_pylist() == [str(i) for i in range(2506)]
    assert log.warnings == []
    ids = source_ids(table, fids, "id_build", BRITTANY, log)
    assert ids.to_pylist() == [str(i) for i in range(1, 2507)]

    # HEIGHT_ROOF comes before HEIGHT_WALL in HEIGHT_NAMES; all its values are positive and plausible.
    log = IngestLog()
    height, rule = building_heights(table, Options(), BRITTANY, log)
    np.testing.assert_array_equal(height, table.column("HEIGHT_ROOF").to_numpy())
    assert set(rule.to_pylist()) == {"attribute:HEIGHT_ROOF"}
    assert log.warnings == []
    # Without heights, NB_LEV storeys x 3 m.
    height, rule = building_heights(
        table.drop_columns(["HEIGHT_ROOF", "HEIGHT_WALL"]), Options(), BRITTANY, log
    )
    np.testing.assert_array_equal(height, table.column("NB_LEV").to_numpy() * 3.0)
    assert set(rule.to_pylist()) == {"storeys"}

    columns = build_columns(ids, height, rule, table)
    kinds = {c.id: c.definition.get("componentType", c.definition["type"]) for c in columns}
    assert kinds == {
        "source_id": "STRING", "height": "FLOAT32", "height_rule": "STRING", "ID_SOURCE": "STRING",
        "HEIGHT_WALL": "FLOAT64", "HEIGHT_ROOF": "FLOAT64", "NB_LEV": "INT32", "TYPE": "STRING",
        "MAIN_USE": "STRING", "ZINDEX": "INT32", "ID_BUILD": "INT32",
    }  # fmt: skip
    assert not any("noData" in c.definition for c in columns)
    by_id = {c.id: c for c in columns}
    assert decode(by_id["TYPE"], 1000, 1010) == table.column("TYPE").slice(1000, 10).to_pylist()
    assert decode(by_id["ID_BUILD"], 1000, 1010) == list(range(1001, 1011))
