"""The vector store on a Milvus server (``store_uri`` in the settings): the scale-out path.

Facts measured on the 2.3.5 server of the ``milvus`` PyPI package (docs/architecture.md): it accepts
``group_by_field`` and ignores it (the store then groups in Python); its collection statistics count
deleted rows (the store counts with ``count(*)``); Strong reads add ~0.25 s a search (collections are
Session-consistent; the read right after a delete is Strong).
"""

from __future__ import annotations

import re
from typing import Any

from pymilvus import MilvusException

from engine.storage import store_lite32
from engine.storage.store_common import LOAD_TIMEOUT_S, CollectionInfo, StoreHost


def attach_server(store: StoreHost, name: str, dim: int) -> CollectionInfo:
    """A server's collection: IVF_FLAT (Lite 3.2's nlist) if it has no index yet, loaded."""
    c = store._client
    if "vector" not in store._call("list indexes", name, c.list_indexes, name):
        params = c.prepare_index_params()
        params.add_index(
            field_name="vector",
            index_type="IVF_FLAT",
            metric_type="COSINE",
            params={"nlist": store_lite32.NLIST},
        )
        store._call("index", name, c.create_index, name, params, sync=False)
    index = store._call("describe index", name, c.describe_index, name, "vector")
    store._call("load", name, c.load_collection, name, timeout=LOAD_TIMEOUT_S)
    return CollectionInfo(
        dim=dim,
        nlist=int(index.get("nlist", store_lite32.NLIST)),
        index_type=str(index.get("index_type", "IVF_FLAT")).upper(),
    )


def ivf_params(info: CollectionInfo, fetch: int, *, filtered: bool) -> dict[str, Any]:
    """IVF search parameters of a server or Lite 3.2 collection. IVF returns only rows in the probed cells.
    Probe at least ``fetch`` cells so a small Lite segment (nlist clamped to its row count, ~1 row per
    cell) still yields ``fetch`` rows; probe all of them under a filter, which may leave the nearest
    cells with no matching row."""
    nprobe = info.nlist if filtered else min(info.nlist, max(store_lite32.NPROBE_MIN, fetch))
    return {"nprobe": nprobe}


def server_groups(client: Any) -> bool:
    """Whether the server honours ``group_by_field`` (Milvus 2.4+)."""
    try:
        version = str(client.get_server_version())
    except MilvusException:
        return True  # unknown: search() still notices duplicate files and switches
    m = re.search(r"(\d+)\.(\d+)", version)
    return m is None or (int(m.group(1)), int(m.group(2))) >= (2, 4)
