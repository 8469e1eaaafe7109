"""Approximate candidates for large indexes: a FAISS HNSW graph beside vectro's codes.

The graph stores its own compact copy of each vector, so memory stays far below a float32
HNSW: binary codecs hand their own bit codes to `IndexBinaryHNSW` (Hamming graph); other codecs
use `IndexHNSWSQ` with 4-bit codes for codecs of 4 bits or fewer per dimension, 8-bit otherwise.
The graph only proposes candidates; vectro's codes (and the re-rank codec) give the final scores.
"""

from __future__ import annotations

import numpy as np

from ..codecs.base import Codec
from ..errors import require

# Below this many allowed vectors an exact scan is cheaper than a graph walk, and always complete.
SCAN_BELOW = 20_000
# The graph's scalar quantiser learns per-dimension ranges: from `Index.train`, or else from a first
# add() of at least this many rows (fewer would fix the ranges from too few vectors).
GRAPH_TRAIN_ROWS = 1000


class HNSW:
    def __init__(self, dim: int, codec: Codec, metric: str, hnsw_m: int = 32, ef_construction: int = 80,
                 ef_search: int = 64):
        self.faiss = require("faiss", "ann")
        self.dim, self.metric = dim, metric
        self.binary = codec.spec == "binary"
        self.bits = 4 if getattr(codec, "bits", 8) <= 4 else 8
        self.hnsw_m, self.ef_construction, self.ef_search = hnsw_m, ef_construction, ef_search
        self.index = None
        self._plain_params = None

    def params(self) -> dict:
        return {"hnsw_m": self.hnsw_m, "ef_construction": self.ef_construction, "ef_search": self.ef_search}

    def _new_index(self):
        faiss = self.faiss
        if self.binary:
            index = faiss.IndexBinaryHNSW(8 * -(-self.dim // 8), self.hnsw_m)
        else:
            kind = faiss.ScalarQuantizer.QT_4bit if self.bits == 4 else faiss.ScalarQuantizer.QT_8bit
            metric = faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT
            index = faiss.IndexHNSWSQ(self.dim, kind, self.hnsw_m, metric)
        index.hnsw.efConstruction = self.ef_construction
        return index

    def train(self, X: np.ndarray) -> None:
        """A new, empty graph whose scalar quantiser learned its ranges from X (binary graphs learn nothing)."""
        self.index = self._new_index()
        if not self.binary:
            self.index.train(X)

    def add(self, X: np.ndarray, codes: np.ndarray) -> None:
        if self.index is None:
            if not self.binary and len(X) < GRAPH_TRAIN_ROWS:
                from ..errors import VectroError

                raise VectroError(
                    f"the HNSW graph's quantiser learns from the vectors: call index.train(X) first, or make the "
                    f"first add() at least {GRAPH_TRAIN_ROWS} rows (got {len(X)})"
                )
            self.train(X)
        self.index.add(codes if self.binary else X)

    def worth_using(self, n_allowed: int, depth: int) -> bool:
        return self.index is not None and n_allowed >= max(SCAN_BELOW, 10 * depth)

    def search(self, Q: np.ndarray, depth: int, allowed: np.ndarray | None, ef: int | None, graph=None) -> np.ndarray:
        """Candidate rows (nq, depth), -1 where the graph found fewer; filtered rows never appear.

        graph: the FAISS index to walk (a snapshot's; default the current one)."""
        faiss = self.faiss
        graph = self.index if graph is None else graph
        ef = max(ef or self.ef_search, depth)
        if allowed is None:  # unfiltered: reuse one parameter object (SWIG objects are slow to build)
            if self._plain_params is None or self._plain_params.efSearch != ef:
                self._plain_params = faiss.SearchParametersHNSW()
                self._plain_params.efSearch = ef
            params = self._plain_params
        else:
            params = faiss.SearchParametersHNSW()
            params.efSearch = ef
            bitmap = np.packbits(allowed, bitorder="little")  # the selector points into it: keep it referenced
            params.sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))  # n: bytes; later rows: out
        query = self._binary_codes(Q) if self.binary else Q
        _, rows = graph.search(query, depth, params=params)
        return rows.astype(np.int64)

    def _binary_codes(self, Q: np.ndarray) -> np.ndarray:
        return np.packbits(Q > 0, axis=1, bitorder="little")

    def rebuild(self, codes: np.ndarray, live: np.ndarray) -> None:
        """Build a new graph over the live rows (after compaction); the old object stays as it was,
        for searches still walking it. An empty result keeps the trained quantiser."""
        old = self.index
        if old is None:
            return
        if self.binary:
            self.index = self._new_index()
            if len(live):
                self.index.add(np.asarray(codes))
        else:
            self.index = self.faiss.clone_index(old)
            self.index.reset()
            if len(live):
                self.index.add(old.reconstruct_n(0, old.ntotal)[live])

    def serialise(self) -> np.ndarray:
        if self.index is None:
            return np.zeros(0, dtype=np.uint8)
        write = self.faiss.serialize_index_binary if self.binary else self.faiss.serialize_index
        return np.asarray(write(self.index), dtype=np.uint8)

    def deserialise(self, blob: np.ndarray) -> None:
        if len(blob):
            read = self.faiss.deserialize_index_binary if self.binary else self.faiss.deserialize_index
            self.index = read(np.ascontiguousarray(blob))

    @property
    def nbytes(self) -> int:
        return int(len(self.serialise()))
