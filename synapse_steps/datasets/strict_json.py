"""Strict JSON for every file the converters write.

``json.dumps`` writes ``NaN`` / ``Infinity`` by default, which is not JSON (RFC 8259): strict
readers (browsers, orjson, Go, Java) refuse the whole file. Converters check numbers before they
get here (see ``geometry.COORDINATE_LIMIT``), so a failure below is a value that slipped past
those checks: it stops the conversion with the file's name instead of writing a broken file.
"""

from __future__ import annotations

import json
from typing import Any

from synapse_steps.errors import DatasetError


def json_bytes(document: Any, target: str, **options: Any) -> bytes:
    """UTF-8 JSON of ``document`` without NaN / Infinity or lone surrogates.

    ``target`` names the file being written (for the error); ``options`` go to ``json.dumps``.
    """
    try:
        return json.dumps(document, ensure_ascii=False, allow_nan=False, **options).encode("utf-8")
    except (ValueError, TypeError) as error:  # UnicodeEncodeError is a ValueError
        raise DatasetError(
            f"Cannot write {target}: {error}. The source holds a value JSON cannot represent "
            "(a non-finite number or text that is not UTF-8); fix it in the source dataset."
        ) from None
