"""Writes tests/engine/legacy/lite3_2_2/: a vector database made by Milvus Lite 3.2.2 through the store of
the 3.2 era, for the upgrade test (tests/engine/test_store.py::test_lite3_library_is_migrated...).

Run with milvus-lite 3.2.x installed (the committed files were made with 3.2.2):

    python tests/engine/legacy/make_lite3_library.py

It leaves every part of the 3.2 format in place: flushed Parquet data, a Parquet delete file, an upsert
that replaces a flushed row, and rows and a delete only in the write-ahead log (the process exits
without closing, as a kill would). ``expected.json`` lists the live rows the upgrade must keep.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from engine.storage.store import VectorStore, vector_id  # noqa: E402

DIM = 16


def main() -> None:
    out = HERE / "lite3_2_2"
    shutil.rmtree(out, ignore_errors=True)
    rng = np.random.default_rng(2022)
    vecs = rng.standard_normal((80, DIM)).astype(np.float32)
    live: dict[int, tuple[int, float, int, list[float]]] = {}

    s = VectorStore.open("", lite_path=out / "vectors.db")
    s.ensure_collection("images", DIM)
    s.ensure_collection("sounds", 8)  # an empty collection comes across too

    def put(fids: list[int], seq: int, t: float, kind: int, rows: np.ndarray) -> None:
        ids = [vector_id(f, seq) for f in fids]
        s.upsert("images", ids, fids, [t] * len(fids), [kind] * len(fids), rows)
        for i, f, v in zip(ids, fids, rows, strict=True):
            live[i] = (f, t, kind, v.tolist())

    put(list(range(50)), 0, 0.0, 0, vecs[:50])  # 50 photos
    put([60] * 1, 1, 2.5, 1, vecs[50:51])  # a video frame
    s.flush()
    s.delete_files("images", [3, 4])  # a Parquet delete file after the next flush
    for f in (3, 4):
        live.pop(vector_id(f, 0))
    put([5], 0, 0.0, 0, vecs[51:52])  # an upsert replacing a flushed row
    s.flush()
    put(list(range(70, 78)), 0, 0.0, 2, vecs[70:78])  # only in the write-ahead log
    s.delete_files("images", [7])  # a delete only in the write-ahead log
    live.pop(vector_id(7, 0))
    rows = [dict(id=i, file_id=f, t=t, kind=k, vector=v) for i, (f, t, k, v) in sorted(live.items())]
    (out / "expected.json").write_text(json.dumps({"images": rows, "sounds": []}))
    os._exit(0)  # no close: the last writes stay in the write-ahead log


if __name__ == "__main__":
    main()
