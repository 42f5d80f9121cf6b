"""The typed JSON records (raregal.io.records): round trips, and one line for a bad file."""

import json

import pytest

from raregal.core.errors import InputError
from raregal.io.records import EmbedManifest, RunRecord, record_header


def test_a_run_record_round_trips_with_entries_it_does_not_know():
    record = {
        **record_header(["raregal", "search"]),
        "id_column": "id_str",
        "parameters": {"min_samples": 300},
        "seed": None,
        "from_the_future": [1, 2],
    }
    run = RunRecord.from_json(record)
    assert run.id_column == "id_str" and run.parameters == {"min_samples": 300}
    assert run.extra == {"from_the_future": [1, 2]}
    assert {k: v for k, v in run.to_json().items() if k in record} == record


@pytest.mark.parametrize(
    "entry, value, kind",
    [
        ("parameters", [1], "object"),
        ("command", "raregal", "array"),
        ("id_column", 3, "string"),
        ("parameters", None, "object"),
    ],
)
def test_a_run_record_of_the_wrong_type_is_one_line(tmp_path, entry, value, kind):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({entry: value}))
    with pytest.raises(InputError, match=rf"run.json: '{entry}' should be a JSON {kind}"):
        RunRecord.read(path)


def test_a_manifest_needs_its_source_and_a_crop_fraction(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"status": "complete"}))
    with pytest.raises(InputError, match="not a raregal embed manifest \\(no source\\)"):
        EmbedManifest.read(path)
    path.write_text(
        json.dumps(
            {"status": "complete", "source": "/data", "preprocessing": {"crop_fraction": 1.5}}
        )
    )
    with pytest.raises(InputError, match="crop_fraction' is 1.5"):
        EmbedManifest.read(path)
    path.write_text(
        json.dumps(
            {"status": "complete", "source": "/data", "preprocessing": {"crop_fraction": 0.8}}
        )
    )
    manifest = EmbedManifest.read(path)
    assert manifest.complete and manifest.crop_fraction == 0.8 and manifest.source == "/data"
