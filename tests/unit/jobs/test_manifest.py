"""Manifest parsing: good lines, pass-through keys, every kind of bad line (named by line number), limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quorum_common.errors import InvalidArgument
from quorum_jobs.core.manifest import MAX_REPORTED_ERRORS, canonical_json, check_source_ref, parse_manifest


def lines(*items: object) -> bytes:
    return "\n".join(i if isinstance(i, str) else json.dumps(i) for i in items).encode()


def rejected(data: bytes, **kwargs: int) -> str:
    with pytest.raises(InvalidArgument) as info:
        parse_manifest(data, **kwargs)
    assert info.value.reason == "manifest_invalid"
    return info.value.message


def test_parses_source_and_source_ref_lines_with_dense_object_ids() -> None:
    m = parse_manifest(lines({"source": "hello"}, {"source-ref": "s3://b/k.jpg"}, {"source": "bye"}))
    assert [o.object_id for o in m.objects] == [0, 1, 2]
    assert [o.line_no for o in m.objects] == [1, 2, 3]
    assert m.objects[0].source == "hello" and m.objects[0].source_ref is None
    assert m.objects[1].source_ref == "s3://b/k.jpg" and m.objects[1].source is None


def test_other_keys_pass_through_in_original_order() -> None:
    raw = '{"id": 7, "source": "t\\u00e9xt", "meta": {"z": 1, "a": [1, 2.5, null, true]}, "b": "x"}'
    obj = parse_manifest(raw.encode()).objects[0]
    assert list(obj.data) == ["id", "source", "meta", "b"]
    assert list(obj.data["meta"]) == ["z", "a"]
    assert obj.canonical == '{"id":7,"source":"téxt","meta":{"z":1,"a":[1,2.5,null,true]},"b":"x"}'


def test_blank_lines_are_ignored_but_line_numbers_stay_physical() -> None:
    m = parse_manifest(b'\n{"source": "a"}\n\n   \n{"source": "b"}\r\n\n')
    assert [(o.object_id, o.line_no) for o in m.objects] == [(0, 2), (1, 5)]
    msg = rejected(b'{"source": "a"}\n\n{"source": 1}\n')
    assert msg.startswith("manifest line 3:")


def test_crlf_and_utf8_bom_are_accepted() -> None:
    m = parse_manifest(b'\xef\xbb\xbf{"source": "a"}\r\n{"source-ref": "x.jpg"}\r\n')
    assert len(m) == 2 and m.objects[0].source == "a"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"source": "a",}', "invalid JSON: Expecting property name enclosed in double quotes at column 16"),
        ('{"source" "a"}', "invalid JSON: Expecting ':' delimiter at column 11"),
        ('{"source": NaN}', "invalid JSON: NaN is not valid JSON"),
        ('["source", "a"]', "must be a JSON object, got array"),
        ('"just text"', "must be a JSON object, got string"),
        ('{"text": "a"}', "needs exactly one of 'source' or 'source-ref'"),
        ('{"source": "a", "source-ref": "s3://b/k"}', "needs exactly one of 'source' or 'source-ref'"),
        ('{"source": 5}', "'source' must be a string, got number"),
        ('{"source": "  "}', "'source' must not be empty"),
        ('{"source-ref": null}', "'source-ref' must be a string, got null"),
        ('{"source-ref": ""}', "'source-ref' must not be empty"),
        ('{"source-ref": "ftp://h/x.jpg"}', "'source-ref' scheme 'ftp://' is not supported"),
        ('{"source-ref": "s3://"}', "has no bucket"),
        ('{"source-ref": "s3://bucket"}', "has no object key"),
        ('{"source-ref": "https:///x.jpg"}', "has no host"),
    ],
)
def test_bad_line_is_named_with_its_line_number(line: str, why: str) -> None:
    msg = rejected(f'{{"source-ref": "a.jpg"}}\n{line}\n{{"source-ref": "b.jpg"}}'.encode())
    assert msg.startswith("manifest line 2: ")
    assert why in msg


def test_invalid_utf8_names_the_line() -> None:
    msg = rejected(b'{"source": "ok"}\n{"source": "caf\xe9"}\n')
    assert msg.startswith("manifest line 2: not valid UTF-8")


def test_accepted_source_ref_forms() -> None:
    for uri in [
        "s3://bucket/key.jpg",
        "file:///data/a.png",
        "http://host/a.png",
        "https://host/a.png?x=1",
        "/abs/path.jpg",
        "relative/dir/a.jpg",
        "AWSDOC-EXAMPLE-BUCKET/text_file.txt",
        "S3 bucket location",
        "s3://b/with\u200bzero-width.jpg",
        "C:\\images\\a.jpg",
    ]:
        assert check_source_ref(uri) is None, uri


def test_many_errors_are_collected_and_counted() -> None:
    data = "\n".join(['{"nope": 1}'] * 25).encode()
    msg = rejected(data)
    assert msg.count("manifest line") == MAX_REPORTED_ERRORS
    assert msg.startswith("manifest line 1: ")
    assert "manifest line 10:" in msg and "manifest line 11:" not in msg
    assert msg.endswith("and 15 more bad line(s)")


def test_one_bad_line_rejects_the_whole_manifest() -> None:
    good = [json.dumps({"source": f"t{i}"}) for i in range(50)]
    good[37] = "{broken"
    assert rejected("\n".join(good).encode()).startswith("manifest line 38: invalid JSON")


def test_line_size_limit() -> None:
    big = json.dumps({"source": "x" * 200})
    assert len(parse_manifest(big.encode(), max_line_bytes=len(big))) == 1
    msg = rejected(big.encode(), max_line_bytes=len(big) - 1)
    assert msg.startswith("manifest line 1: line is") and "100 KB" in msg


def test_default_line_limit_is_100_kb() -> None:
    ok = json.dumps({"source": "x" * (100 * 1024 - 20)})
    assert len(ok.encode()) <= 100 * 1024
    parse_manifest(ok.encode())
    msg = rejected(json.dumps({"source": "x" * (100 * 1024)}).encode())
    assert "limit is 102400 bytes" in msg


def test_object_count_limits() -> None:
    data = lines(*({"source": str(i)} for i in range(5)))
    assert len(parse_manifest(data, max_objects=5)) == 5
    assert "more than 4 objects" in rejected(data, max_objects=4)
    assert "at least 1" in rejected(b"\n\n  \n")
    assert "at least 1" in rejected(b"")


def test_ground_truth_output_lines_are_valid_input() -> None:
    line = (
        '{"source-ref":"s3://b/image_0123.jpeg","vehicle":1,"vehicle-metadata":{"class-name":"Car",'
        '"job-name":"labeling-job/vehicle","confidence":0.95,"type":"groundtruth/image-classification",'
        '"human-annotated":"yes","creation-date":"2023-03-08T19:30:08.880327"}}'
    )
    obj = parse_manifest(line.encode()).objects[0]
    assert obj.canonical == line  # compact GT lines survive byte for byte


def test_canonical_json_is_compact_and_keeps_unicode() -> None:
    assert canonical_json({"a": "设备 ", "b": [1, {"c": None}]}) == '{"a":"设备 ","b":[1,{"c":null}]}'
    assert canonical_json({"c": "\x00"}) == '{"c":"\\u0000"}'  # never a raw NUL (PostgreSQL text)


def test_real_ground_truth_manifests_parse(shared_datasets: Path) -> None:
    files = sorted((shared_datasets / "groundtruth").rglob("*.manifest"))
    assert files
    for path in files:
        raw_lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        manifest = parse_manifest(path.read_bytes())
        assert len(manifest) == len(raw_lines), path
        for obj, raw in zip(manifest.objects, raw_lines, strict=True):
            original = json.loads(raw)
            assert json.loads(obj.canonical) == original
            assert list(json.loads(obj.canonical)) == list(original)
