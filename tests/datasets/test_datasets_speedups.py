"""The speed-ups change nothing: orjson parses like ``json``, the writer process writes the same."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest
from dataset_helpers import box, leftovers, write_item
from hypothesis import given, settings
from hypothesis import strategies as st

from synapse_steps.datasets import convert, writer_process
from synapse_steps.datasets.dm_v2 import parse_json
from synapse_steps.datasets.writer_process import WriterProcess

ODD_DOCUMENTS = [
    b'{"a": [1, 2.5, -0.0, 1e-400, "x", true, null]}',
    b'\xef\xbb\xbf{"bom": 1}',
    b'{"x": NaN, "y": Infinity, "z": -Infinity}',
    b'{"big": 123456789012345678901234567890, "neg": -98765432109876543210}',
    b'{"id": "1234567890123456789012345"}',  # a long digit run in a string: same result
    b'{"huge": 1E400}',
    b'{"lone": "\\ud800"}',
    b'{"a": 1, "a": 2}',
    b"[" * 900 + b"]" * 900,
]


@pytest.mark.parametrize("data", ODD_DOCUMENTS)
def test_parse_json_returns_what_json_returns(data: bytes) -> None:
    expected = json.loads(data.decode("utf-8-sig"))
    assert repr(parse_json(data)) == repr(expected)  # repr: 1 vs 1.0 and nan compare too


@pytest.mark.parametrize("data", [b'{"images": [}', b"", b"{'a': 1}", b'{"a": 1} x'])
def test_parse_json_raises_what_json_raises(data: bytes) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(data.decode("utf-8-sig"))
    with pytest.raises(json.JSONDecodeError) as got:
        parse_json(data)
    assert type(got.value) is json.JSONDecodeError
    assert (got.value.msg, got.value.pos) == (expected.value.msg, expected.value.pos)


def test_parse_json_too_deep_raises_like_json() -> None:
    with pytest.raises(RecursionError):
        parse_json(b"[" * 100_000 + b"]" * 100_000)


def test_parse_json_invalid_utf8_raises_the_decode_error() -> None:
    with pytest.raises(UnicodeDecodeError):
        parse_json(b'{"a": "\xff"}')


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES, st.booleans())
def test_parse_json_agrees_with_json_on_any_document(value: object, ascii_only: bool) -> None:
    data = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
    assert repr(parse_json(data)) == repr(json.loads(data))


@pytest.fixture(params=["fork", "spawn"])
def start_method(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    method: str = request.param
    context = multiprocessing.get_context(method)
    monkeypatch.setattr(writer_process.multiprocessing, "get_context", lambda: context)
    return method


def _files(root: Path) -> dict[str, bytes]:
    found = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    found["dataset.yaml"] = found["dataset.yaml"].replace(bytes(root), b"<out>")
    return found


def _late_class_dataset(root: Path) -> Path:
    write_item(root, "train", "a", {"bounding_box": [box("zebra", 1, 1, 5, 5)]})
    write_item(root, "train", "b", {"bounding_box": [box("ant", 2, 2, 5, 5, "b2")]})
    write_item(root, "valid", "c", {"bounding_box": [box("zebra", 1, 1, 0, 5)]})  # degenerate
    return root


@pytest.mark.parametrize("link", [False, True])
def test_writer_process_writes_byte_for_byte_the_same(
    sample_dataset: Path, tmp_path: Path, start_method: str, link: bool
) -> None:
    for name, source in [("sample", sample_dataset), ("late", _late_class_dataset(tmp_path / "l"))]:
        results, outputs = [], []
        for use_process in (False, True):
            out = tmp_path / f"{name}-{use_process}"
            result = convert(
                source, "dm_v2", "yolo", out, writer_process=use_process, link_images=link
            )
            results.append({**result.to_dict(), "path": "", "config_path": ""})
            outputs.append(_files(out))
        assert results[0] == results[1]
        assert outputs[0] == outputs[1]
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_interrupted_writer_process_leaves_nothing_behind(
    sample_dataset: Path, tmp_path: Path, start_method: str, interrupt: type[BaseException]
) -> None:
    seen = []

    def stop_midway(done: int, total: int) -> None:
        seen.append((done, total))
        if done == total // 2:
            raise interrupt("stop")

    output = tmp_path / "out"
    with pytest.raises(interrupt):
        convert(sample_dataset, "dm_v2", "yolo", output, progress=stop_midway, writer_process=True)
    assert seen == [(done, 40) for done in range(21)]
    assert not output.exists()
    assert leftovers(output) == []
    assert multiprocessing.active_children() == []


def test_write_errors_come_back_from_the_writer_process(tmp_path: Path, start_method: str) -> None:
    (tmp_path / "there").write_text("")

    def write_then_fail() -> None:
        with WriterProcess(batch_size=1, max_pending=1) as writer:
            writer.submit(os.remove, str(tmp_path / "there"))
            writer.submit(os.remove, str(tmp_path / "missing"))
            for _ in range(10):  # keeps sending after the error: no BrokenPipeError
                writer.submit(os.remove, str(tmp_path / "never"))

    with pytest.raises(FileNotFoundError, match="missing"):
        write_then_fail()
    assert not (tmp_path / "there").exists()
    assert multiprocessing.active_children() == []


def test_writer_process_is_automatic_only_for_large_datasets() -> None:
    assert not writer_process.use_writer_process(None, 100)
    assert writer_process.use_writer_process(True, 1)
    assert not writer_process.use_writer_process(False, 10**6)
    large = writer_process.use_writer_process(None, writer_process.PROCESS_MIN_ITEMS)
    assert large == ((os.cpu_count() or 1) >= 2)
