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

    def add(self, X: np.ndarray, codes: np.ndarray) -> None:
        if self.index is None:
            self.index = self._new_index()
            if not self.binary:
                self.index.train(X)  # the scalar quantiser learns per-dimension ranges
        self.index.add(codes if self.binary else X)

    def worth_using(self, n_allowed: int, depth: int) -> bool:
        return self.index is not None and n_allowed >= max(SCAN_BELOW, 10 * depth)

    def search(self, Q: np.ndarray, depth: int, allowed: np.ndarray | None, ef: int | None) -> np.ndarray:
        """Candidate rows (nq, depth), -1 where the graph found fewer; filtered rows never appear."""
        faiss = self.faiss
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
            params.sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
        query = self._binary_codes(Q) if self.binary else Q
        _, rows = self.index.search(query, depth, params=params)
        return rows.astype(np.int64)

    def _binary_codes(self, Q: np.ndarray) -> np.ndarray:
        return np.packbits(Q > 0, axis=1, bitorder="little")

    def rebuild(self, codes: np.ndarray, codec: Codec, live: np.ndarray) -> None:
        """Rebuild the graph over the live rows (after compaction)."""
        old, self.index = self.index, None
        if old is None or not len(live):
            return
        if self.binary:
            self.add(None, np.asarray(codes))
        else:
            vectors = old.reconstruct_n(0, old.ntotal)[live]
            self.add(vectors, None)

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
