"""Approximate candidates for large indexes: an HNSW graph beside vectro's codes.

Codecs whose rows a compiled kernel scores in place (`Codec.row_kernel`: int8, float32, int4, nf4,
int2, rq:2, rq:4) get vectro's own graph (`Links`): links only, walked and built by the C kernels
on the index's codes, so RAM holds the codes and the graph and no second copy of the vectors.
Other codecs (pq, binary, composites, ...) and processes without the C kernels use a FAISS graph,
which keeps its own compact copy of each vector: binary codecs hand their bit codes to
`IndexBinaryHNSW` (Hamming graph); other codecs use `IndexHNSWSQ` with 4-bit codes for codecs of 4
bits or fewer per dimension, 8-bit otherwise. Either graph only proposes candidates; vectro's codes
(and the re-rank codec) give the final scores.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .. import kernels
from ..codecs.base import Codec
from ..errors import FormatError, VectroError, require

# Below this many allowed vectors an exact scan is cheaper than a graph walk, and always complete.
SCAN_BELOW = 20_000
# The FAISS graph's scalar quantiser learns per-dimension ranges: from `Index.train`, or else from a
# first add() of at least this many rows (fewer would fix the ranges from too few vectors).
GRAPH_TRAIN_ROWS = 1000
# levels above this are not drawn (with M = 32, one node in 32**16 would reach it)
MAX_LEVEL = 16
# a serialised `Links` starts with this
LINKS_MAGIC = b"VECTRO-HNSW-1\n"
# rows inserted per C call when a graph is rebuilt from the codes (bounds the decoded floats held)
REBUILD_ROWS = 65_536


class Links:
    """vectro's HNSW graph: the links of every node, no vectors (see `_native.c`).

    level0 (capacity, 2M) int32; a node of level L >= 1 owns L consecutive blocks of M links in
    `upper`, from block upper_at[node] (-1: level 0 only); -1 ends a list. `entries` records the entry
    node and top level after every add that changed them, so that a search of an older snapshot
    (fewer nodes) starts from the newest entry it holds. Grown in place by one writer at a time (the
    Index's graph lock); a rebuild makes a new object.
    """

    def __init__(self, m: int, seed: int = 0):
        self.m, self.seed = m, seed
        self.level0 = np.full((0, 2 * m), -1, dtype=np.int32)
        self.upper_at = np.full(0, -1, dtype=np.int32)
        self.upper = np.full((0, m), -1, dtype=np.int32)
        self.ntotal = self.blocks = 0
        self.entries: list[tuple[int, int]] = []

    def arrays(self, nodes: int) -> tuple:
        """The graph as the C kernels take it, limited to the first `nodes` nodes."""
        return self.level0, self.upper, self.upper_at, self.m, nodes

    def entry_for(self, nodes: int) -> tuple[int, int] | None:
        """(entry node, top level) of the graph of the first `nodes` nodes; None when it holds none."""
        for entry, top in reversed(self.entries):
            if entry < nodes:
                return entry, top
        return None

    def _levels(self, first: int, n: int) -> np.ndarray:
        """Each new node's level, drawn as HNSW does (P(level >= l) = M^-l), seeded by its position."""
        uniform = np.random.default_rng((self.seed, first)).random(n)
        levels = np.floor(-np.log(np.maximum(uniform, 1e-300)) / math.log(self.m))
        return np.minimum(levels, MAX_LEVEL).astype(np.int8)

    def _grow(self, levels: np.ndarray) -> None:
        """Room for len(levels) more nodes (and their upper blocks); capacity grows by a quarter at least."""
        n, first = len(levels), self.ntotal
        need_blocks = self.blocks + int(levels.sum())
        if first + n > len(self.level0):
            cap = max(first + n, len(self.level0) * 5 // 4)
            self.level0 = _grown(self.level0, cap)
            self.upper_at = _grown(self.upper_at, cap)
        if need_blocks > len(self.upper):
            self.upper = _grown(self.upper, max(need_blocks, len(self.upper) * 5 // 4))
        upper = levels > 0
        starts = self.blocks + np.concatenate([[0], np.cumsum(levels[upper].astype(np.int64))[:-1]])
        self.upper_at[first : first + n][upper] = starts
        self.blocks = need_blocks

    def add(self, rows: tuple, X: np.ndarray, ef_construction: int) -> None:
        """Insert len(X) nodes, numbered from ntotal; `rows` (kernels.coded_rows) already hold their codes."""
        if not len(X):
            return
        first = self.ntotal
        levels = self._levels(first, len(X))
        self._grow(levels)
        top = self.entries[-1] if self.entries else (-1, 0)
        try:
            new_top = kernels.hnsw_add(rows, self.arrays(first + len(X)), top, X, first, levels, ef_construction)
        finally:  # even when an insert ran out of memory, the nodes are numbered: their codes are stored
            self.ntotal = first + len(X)
        if new_top != top:
            self.entries.append(tuple(new_top))

    def search(self, rows: tuple, nodes: int, Q: np.ndarray, ef: int, depth: int, allowed) -> tuple:
        """Each query's `depth` best of the first `nodes` nodes: rows and their scores on the codes."""
        top = self.entry_for(nodes)
        if top is None:
            return np.full((len(Q), depth), -1, dtype=np.int64), np.full((len(Q), depth), -np.inf, dtype=np.float32)
        return kernels.hnsw_search(rows, self.arrays(nodes), top, Q, ef, depth, allowed)

    @property
    def nbytes(self) -> int:
        return int(self.level0.nbytes + self.upper_at.nbytes + self.upper.nbytes)

    def to_bytes(self) -> np.ndarray:
        head = json.dumps({"m": self.m, "seed": self.seed, "nodes": self.ntotal, "blocks": self.blocks,
                           "entries": self.entries}).encode()
        parts = [np.frombuffer(LINKS_MAGIC + len(head).to_bytes(4, "little") + head, np.uint8)]
        for array in (self.level0[: self.ntotal], self.upper_at[: self.ntotal], self.upper[: self.blocks]):
            parts.append(np.ascontiguousarray(array).view(np.uint8).reshape(-1))
        return np.concatenate(parts)

    @classmethod
    def from_bytes(cls, blob: np.ndarray) -> "Links":
        raw = memoryview(np.ascontiguousarray(blob, dtype=np.uint8)).cast("B")
        at = len(LINKS_MAGIC)
        size = int.from_bytes(raw[at : at + 4], "little")
        head = json.loads(bytes(raw[at + 4 : at + 4 + size]))
        links = cls(int(head["m"]), int(head["seed"]))
        n, blocks, m = int(head["nodes"]), int(head["blocks"]), links.m
        body = np.frombuffer(raw, np.int32, offset=at + 4 + size) if (len(raw) - at - 4 - size) % 4 == 0 else None
        if body is None or len(body) != n * 2 * m + n + blocks * m:
            raise FormatError("the HNSW section does not hold the graph its header describes")
        links.level0 = body[: n * 2 * m].reshape(n, 2 * m).copy()
        links.upper_at = body[n * 2 * m : n * 2 * m + n].copy()
        links.upper = body[n * 2 * m + n :].reshape(blocks, m).copy()
        links.ntotal, links.blocks = n, blocks
        links.entries = [(int(e), int(t)) for e, t in head["entries"]]
        bad_links = (links.level0 >= n).any() or (links.upper >= n).any() or (links.level0 < -1).any()
        bad_blocks = (links.upper_at >= blocks).any() or (links.upper_at < -1).any()
        if bad_links or bad_blocks or any(not (0 <= e < n and 0 <= t <= MAX_LEVEL) for e, t in links.entries):
            raise FormatError("the HNSW section links to nodes or blocks it does not hold")
        return links


def needs_faiss(codec: Codec, dim: int) -> bool:
    """Whether `Index(dim, codec, ann="hnsw")` builds FAISS's graph, which needs faiss-cpu and learns from the
    vectors, rather than vectro's. A trainable codec counts as FAISS's until fitted (its kernel comes with the fit)."""
    if not codec.is_fitted:
        if codec.trainable:
            return True
        codec = codec.clone().fit(np.zeros((1, dim), dtype=np.float32))  # data-free: records the dimension
    return not (kernels.native() and codec.row_kernel() is not None)


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    out = np.full((rows,) + array.shape[1:], -1, dtype=array.dtype)
    out[: len(array)] = array
    return out


class HNSW:
    """The graph of an `Index(ann="hnsw")`: vectro's `Links` where the codec has a row kernel, else FAISS's."""

    def __init__(self, dim: int, codec: Codec, metric: str, hnsw_m: int = 32, ef_construction: int = 80,
                 ef_search: int = 64):
        self.dim, self.metric, self.codec = dim, metric, codec
        self.binary = codec.spec == "binary"
        self.bits = 4 if getattr(codec, "bits", 8) <= 4 else 8
        self.hnsw_m, self.ef_construction, self.ef_search = hnsw_m, ef_construction, ef_search
        self.index = None  # a Links or a FAISS index, made by train() or the first add()
        self._plain_params = None
        self._row_kernel = None  # cached by _kernel(); False: none

    def params(self) -> dict:
        return {"hnsw_m": self.hnsw_m, "ef_construction": self.ef_construction, "ef_search": self.ef_search}

    def _kernel(self) -> kernels.RowKernel | None:
        """The fitted codec's row kernel, which vectro's graph walks with (None: the codec has none)."""
        if self._row_kernel is None and self.codec.is_fitted:
            self._row_kernel = self.codec.row_kernel() or False
        return self._row_kernel or None

    def _new_index(self):
        if not needs_faiss(self.codec, self.dim):
            return Links(self.hnsw_m)
        faiss = self._faiss()
        if self.binary:
            index = faiss.IndexBinaryHNSW(8 * -(-self.dim // 8), self.hnsw_m)
        else:
            kind = faiss.ScalarQuantizer.QT_4bit if self.bits == 4 else faiss.ScalarQuantizer.QT_8bit
            metric = faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT
            index = faiss.IndexHNSWSQ(self.dim, kind, self.hnsw_m, metric)
        index.hnsw.efConstruction = self.ef_construction
        return index

    @staticmethod
    def _faiss():
        return require("faiss", "ann")

    @property
    def own(self) -> bool:
        """Whether the graph is vectro's `Links`."""
        return isinstance(self.index, Links)

    def train(self, X: np.ndarray, codec: Codec) -> None:
        """A new, empty graph for the fitted `codec`; a FAISS scalar quantiser learns its ranges from X."""
        self.codec, self._row_kernel = codec, None
        self.index = self._new_index()
        if not self.own and not self.binary:
            self.index.train(X)

    def add(self, X: np.ndarray, codes: np.ndarray, all_codes: np.ndarray, sq_norms: np.ndarray) -> None:
        """Add the rows just appended: X float32 (n, d) and their codes; all_codes and sq_norms: every row so
        far, the new ones last (vectro's graph scores them in place)."""
        if self.index is None:
            if needs_faiss(self.codec, self.dim) and not self.binary and len(X) < GRAPH_TRAIN_ROWS:
                raise VectroError(
                    f"the HNSW graph's quantiser learns from the vectors: call index.train(X) first, or make the "
                    f"first add() at least {GRAPH_TRAIN_ROWS} rows (got {len(X)})"
                )
            self.train(X, self.codec)
        if self.own:
            if not kernels.graph_built():
                raise VectroError("this index's HNSW graph is vectro's, which only its C kernels build, and this "
                                  "installation has none (no C compiler at install): rebuild the index here, or "
                                  "add where it was built")
            self.index.add(self.rows(all_codes, sq_norms), self._prepared(X), self.ef_construction)
        else:
            self.index.add(codes if self.binary else X)

    def rows(self, codes: np.ndarray, sq_norms: np.ndarray) -> tuple | None:
        """The codes as vectro's graph scores them (None for a FAISS graph)."""
        kernel = self._kernel()
        if kernel is None:
            return None
        return kernels.coded_rows(kernel, codes, sq_norms, self.metric)

    def _prepared(self, Q: np.ndarray) -> np.ndarray:
        prepare = self._kernel().prepare
        return Q if prepare is None else prepare(Q)

    def worth_using(self, n_allowed: int, depth: int) -> bool:
        if isinstance(self.index, Links) and not kernels.graph_built():
            return False  # a graph saved where the C kernels ran, loaded where they do not: scan instead
        return self.index is not None and n_allowed >= max(SCAN_BELOW, 10 * depth)

    def search(self, Q: np.ndarray, depth: int, allowed: np.ndarray | None, ef: int | None, graph, rows: tuple | None,
               nodes: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Candidate rows (nq, depth), -1 where the graph found fewer (filtered rows never appear), and their
        scores on the codes (vectro's graph; None from FAISS's, whose scores are its own copy's).

        graph: the graph to walk (a snapshot's); rows: the snapshot's codes as `rows()` gives them (vectro's graph),
        `nodes` of them."""
        ef = max(ef or self.ef_search, depth)
        if isinstance(graph, Links):
            return graph.search(rows, nodes, self._prepared(Q), ef, depth, allowed)
        faiss = self._faiss()
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
        _, found = graph.search(query, depth, params=params)
        found = found.astype(np.int64)
        found[found >= nodes] = -1  # rows added after the snapshot
        return found, None

    def _binary_codes(self, Q: np.ndarray) -> np.ndarray:
        return np.packbits(Q > 0, axis=1, bitorder="little")

    def rebuild(self, codes: np.ndarray, sq_norms: np.ndarray, live: np.ndarray) -> None:
        """Build a new graph over the rows kept by compaction (`codes`, the compacted rows; `live`, the old rows
        they were); the old object stays as it was, for searches still walking it. An empty result keeps
        the trained quantiser."""
        old = self.index
        if old is None:
            return
        if self.own:
            self.index = Links(self.hnsw_m, old.seed)
            rows = self.rows(codes, sq_norms)
            for start in range(0, len(codes), REBUILD_ROWS):  # the decoded rows, a block at a time
                block = self.codec.decode(np.asarray(codes[start : start + REBUILD_ROWS]))
                self.index.add(rows, self._prepared(block), self.ef_construction)
        elif self.binary:
            self.index = self._new_index()
            if len(live):
                self.index.add(np.asarray(codes))
        else:
            self.index = self._faiss().clone_index(old)
            self.index.reset()
            if len(live):
                self.index.add(old.reconstruct_n(0, old.ntotal)[live])

    def serialise(self) -> np.ndarray:
        if self.index is None:
            return np.zeros(0, dtype=np.uint8)
        if self.own:
            return self.index.to_bytes()
        faiss = self._faiss()
        write = faiss.serialize_index_binary if self.binary else faiss.serialize_index
        return np.asarray(write(self.index), dtype=np.uint8)

    def deserialise(self, blob: np.ndarray, rows: int) -> None:
        """The graph `serialise` wrote, for an index of `rows` rows."""
        if not len(blob):
            return
        if bytes(blob[: len(LINKS_MAGIC)]) == LINKS_MAGIC:
            self.index = Links.from_bytes(blob)
            if self.index.ntotal != rows:
                raise FormatError(f"the HNSW section holds {self.index.ntotal} nodes for {rows} rows")
            return
        faiss = self._faiss()
        read = faiss.deserialize_index_binary if self.binary else faiss.deserialize_index
        self.index = read(np.ascontiguousarray(blob))

    @property
    def nbytes(self) -> int:
        if self.index is None:
            return 0
        return self.index.nbytes if self.own else int(len(self.serialise()))
