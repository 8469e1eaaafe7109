"""FAISS indexes from vectro codes, and vectro codes from FAISS indexes, where the two layouts agree.

    from vectro.integrations.frameworks import faiss as vfaiss
    index = vfaiss.to_faiss(vectro.compress(X, "pq:48"))        # a faiss.IndexPQ holding the same codes
    index = vfaiss.to_faiss(vectro_index, hnsw_m=32)            # an HNSW graph over the same codes; int ids kept
    packed, ids = vfaiss.from_faiss(faiss.read_index("x.faiss"))  # a Compressed (ids None without an IDMap)

The codes are copied byte for byte, never decoded and re-encoded:

    vectro codec    FAISS index (flat / with hnsw_m)
    float32         IndexFlat / IndexHNSWFlat
    float16, bf16   IndexScalarQuantizer(QT_fp16 / QT_bf16) / IndexHNSWSQ
    int8-dim        IndexScalarQuantizer(QT_8bit) / IndexHNSWSQ: vmin = offset - step/2, vdiff = 255 step
    pq:M, pq:Mx4    IndexPQ(M, 8 or 4 bits) / IndexHNSWPQ
    opq:M           IndexPreTransform(OPQMatrix, IndexPQ)
    binary          IndexBinaryFlat / IndexBinaryHNSW (d a multiple of 8)

Per-vector scaled codecs (int8, int4, nf4, rq, ...) have no FAISS counterpart: FAISS stores no
per-vector scale. cosine and ip map to METRIC_INNER_PRODUCT (an Index stores unit vectors for
cosine), l2 to METRIC_L2. Needs `vectro[ann]` (faiss-cpu).
"""

from __future__ import annotations

import numpy as np

from ...codecs.base import Codec, make_codec
from ...codecs.binary import Binary
from ...codecs.product import OptimizedProductQuantizer, ProductQuantizer
from ...codecs.scalar import BFloat16, Float16, Float32, Int8PerDim
from ...compressed import Compressed
from ...errors import VectroError, require

MAPPED = "float32, float16, bf16, int8-dim, pq:M, pq:Mx4, opq:M and binary"


def _faiss():
    return require("faiss", "ann")


def _source(source) -> tuple[Codec, np.ndarray, np.ndarray | None, str]:
    from ...index import Index

    if isinstance(source, Index):
        if source.rerank_codec is not None:
            raise VectroError("an Index with a re-rank codec has two code sets; FAISS holds one "
                              "(convert the primary codes with vectro.Compressed(index.codec, index.codes()))")
        ids = source.ids()
        if ids.dtype == object:
            raise VectroError("FAISS ids are integers; this Index uses string ids")
        return source.codec, source.codes(), ids, source.metric
    if isinstance(source, Compressed):
        return source.codec, np.asarray(source.codes), None, source.metric
    raise VectroError(f"expected a vectro.Compressed or vectro.Index, got {type(source).__name__}")


def _metric(faiss, metric: str):
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def _scalar_kind(faiss, codec: Codec):
    return {Float16: faiss.ScalarQuantizer.QT_fp16, BFloat16: faiss.ScalarQuantizer.QT_bf16,
            Int8PerDim: faiss.ScalarQuantizer.QT_8bit}.get(type(codec))


def _empty_index(faiss, codec: Codec, metric, hnsw_m: int | None):
    """A trained, empty FAISS index whose codes have exactly the codec's layout."""
    d = codec.dim_
    if type(codec) is Float32:
        return faiss.IndexHNSWFlat(d, hnsw_m, metric) if hnsw_m else faiss.IndexFlat(d, metric)
    kind = _scalar_kind(faiss, codec)
    if kind is not None:
        index = faiss.IndexHNSWSQ(d, kind, hnsw_m, metric) if hnsw_m else faiss.IndexScalarQuantizer(d, kind, metric)
        sq_index = _down(faiss, index.storage) if hnsw_m else index
        if type(codec) is Int8PerDim:  # FAISS decodes vmin + (c + 0.5) / 255 * vdiff = offset + c * step
            trained = np.concatenate([codec.offset_ - codec.step_ / 2, codec.step_ * 255]).astype(np.float32)
            faiss.copy_array_to_vector(trained, sq_index.sq.trained)
        sq_index.is_trained = index.is_trained = True
        return index
    if type(codec) in (ProductQuantizer, OptimizedProductQuantizer):
        m, bits = codec.subquantizers, codec.bits
        index = faiss.IndexHNSWPQ(d, m, hnsw_m, bits, metric) if hnsw_m else faiss.IndexPQ(d, m, bits, metric)
        pq_index = _down(faiss, index.storage) if hnsw_m else index
        faiss.copy_array_to_vector(np.ascontiguousarray(codec.centroids_, dtype=np.float32).ravel(), pq_index.pq.centroids)
        pq_index.pq.compute_sdc_table()  # what FAISS's own train leaves behind (HNSW-PQ graphs need it)
        pq_index.is_trained = index.is_trained = True
        if type(codec) is OptimizedProductQuantizer:
            opq = faiss.OPQMatrix(d, m)
            faiss.copy_array_to_vector(np.ascontiguousarray(codec.rotation_, dtype=np.float32).ravel(), opq.A)
            opq.is_trained = True
            opq.is_orthonormal = True
            index = faiss.IndexPreTransform(opq, index)
        return index
    if type(codec) is Binary:
        if d % 8:
            raise VectroError(f"FAISS binary indexes need d to be a multiple of 8; this one has d={d}")
        return faiss.IndexBinaryHNSW(d, hnsw_m) if hnsw_m else faiss.IndexBinaryFlat(d)
    raise VectroError(f"codec {codec.spec!r} has no FAISS counterpart (FAISS keeps no per-vector scale); "
                      f"codecs that map: {MAPPED}")


def to_faiss(source, hnsw_m: int | None = None):
    """A FAISS index holding exactly the codes of a Compressed or an Index (int ids via IndexIDMap2).

    hnsw_m: build an HNSW graph with this many links per node over the same codes.
    """
    faiss = _faiss()
    codec, codes, ids, metric = _source(source)
    index = _empty_index(faiss, codec, _metric(faiss, metric), hnsw_m)
    binary = type(codec) is Binary
    target = index if ids is None else (faiss.IndexBinaryIDMap2 if binary else faiss.IndexIDMap2)(index)
    if target is not index:
        target.referenced_objects = [index]  # the wrapper does not own the inner index: keep it alive
    if not len(codes):
        return target
    codes = np.ascontiguousarray(codes)
    if binary or hnsw_m:
        # HNSW graphs are built from vectors; binary indexes take the codes themselves
        data = codes if binary else codec.decode(codes)
        target.add(data) if ids is None else target.add_with_ids(data, np.asarray(ids, dtype=np.int64))
        if hnsw_m and not binary:  # the storage re-encoded the decoded vectors: give it the original bytes
            inner = _down(faiss, index.index) if isinstance(index, faiss.IndexPreTransform) else index
            faiss.copy_array_to_vector(codes.ravel(), _down(faiss, inner.storage).codes)
    else:
        inner = _down(faiss, index.index) if isinstance(index, faiss.IndexPreTransform) else index
        inner.add_sa_codes(codes)  # IndexPreTransform has no add_sa_codes: fill the inner index
        index.ntotal = inner.ntotal
        if ids is not None:
            faiss.copy_array_to_vector(np.asarray(ids, dtype=np.int64), target.id_map)
            target.ntotal = len(ids)
            target.construct_rev_map()
    return target


def from_faiss(index, metric: str | None = None) -> tuple[Compressed, np.ndarray | None]:
    """(Compressed with the index's codes and an equivalent codec, ids or None) from a FAISS index.

    metric: what the Compressed records ("cosine", "ip" or "l2"); default from the FAISS metric.
    """
    faiss = _faiss()
    outer = _down(faiss, index)  # only plain Index handles are downcast: twice reads garbage
    ids, inner = None, outer
    if isinstance(outer, (faiss.IndexIDMap, faiss.IndexIDMap2, faiss.IndexBinaryIDMap, faiss.IndexBinaryIDMap2)):
        ids = faiss.vector_to_array(outer.id_map).astype(np.int64)
        inner = _down(faiss, outer.index)  # a borrowed view: `outer` stays referenced until we return
    codec, codes, faiss_metric = _codec_and_codes(faiss, inner)
    if metric is None:
        metric = "l2" if faiss_metric == faiss.METRIC_L2 else "ip"
    return Compressed(codec, codes, {"metric": metric, "format": "faiss"}), ids


def _down(faiss, index):
    if type(index) is faiss.IndexBinary:
        return faiss.downcast_IndexBinary(index)
    return faiss.downcast_index(index) if type(index) is faiss.Index else index


def _codec_and_codes(faiss, index):
    if isinstance(index, faiss.IndexBinaryHNSW):
        index = _down(faiss, index.storage)
    if isinstance(index, faiss.IndexBinaryFlat):
        codec = make_codec("binary")
        codec.dim_ = index.d
        return codec, faiss.vector_to_array(index.xb).reshape(index.ntotal, -1), faiss.METRIC_L2
    rotation = None
    if isinstance(index, faiss.IndexPreTransform):
        transform = faiss.downcast_VectorTransform(index.chain.at(0)) if index.chain.size() == 1 else None
        if not isinstance(transform, faiss.OPQMatrix):
            raise VectroError("only an IndexPreTransform of one OPQMatrix over an IndexPQ maps to vectro (opq:M)")
        rotation = faiss.vector_to_array(transform.A).reshape(index.d, index.d)
        index = _down(faiss, index.index)
    if isinstance(index, faiss.IndexHNSW):
        index = _down(faiss, index.storage)
    d, n = index.d, index.ntotal
    if isinstance(index, faiss.IndexPQ):
        pq = index.pq
        name = "opq" if rotation is not None else "pq"
        codec = make_codec(f"{name}:{pq.M}" + ("x4" if pq.nbits == 4 else ""))
        if pq.nbits not in (4, 8):
            raise VectroError(f"FAISS PQ with {pq.nbits}-bit codes has no vectro counterpart (4 or 8 bits)")
        arrays = {"centroids_": faiss.vector_to_array(pq.centroids).reshape(pq.M, pq.ksub, pq.dsub)}
        if rotation is not None:
            arrays["rotation_"] = rotation
        codec._load_state(d, arrays)
    elif isinstance(index, faiss.IndexScalarQuantizer):
        codec = _scalar_codec(faiss, index)
    elif isinstance(index, faiss.IndexFlat):
        codec = make_codec("float32")
        codec.dim_ = d
    else:
        raise VectroError(f"FAISS {type(index).__name__} has no vectro counterpart; indexes that map: "
                          "IndexFlat, IndexScalarQuantizer (fp16, bf16, 8bit, 8bit_uniform), IndexPQ (4/8 bits), "
                          "OPQ+PQ, IndexBinaryFlat, and HNSW or IDMap wrappers of them")
    codes = faiss.vector_to_array(index.codes).reshape(n, -1) if n else \
        np.zeros((0, codec.bytes_per_vector(d)), dtype=np.uint8)
    return codec, codes, index.metric_type


def _scalar_codec(faiss, index) -> Codec:
    kinds = faiss.ScalarQuantizer
    qtype, d = index.sq.qtype, index.d
    if qtype in (kinds.QT_fp16, kinds.QT_bf16):
        codec = make_codec("float16" if qtype == kinds.QT_fp16 else "bf16")
        codec.dim_ = d
        return codec
    if qtype in (kinds.QT_8bit, kinds.QT_8bit_uniform):
        trained = faiss.vector_to_array(index.sq.trained).astype(np.float32)
        vmin, vdiff = (trained[:d], trained[d:]) if qtype == kinds.QT_8bit else \
            (np.full(d, trained[0], np.float32), np.full(d, trained[1], np.float32))
        step = vdiff / np.float32(255)
        codec = make_codec("int8-dim")
        codec._load_state(d, {"offset_": (vmin + step / 2).astype(np.float32), "step_": step.astype(np.float32)})
        return codec
    raise VectroError("this FAISS scalar quantiser type has no vectro counterpart (fp16, bf16, 8bit and 8bit_uniform map)")


def write_index(index, path) -> None:
    """Write a FAISS index (float or binary) to `path` atomically."""
    from ...format.container import atomic_file

    faiss = _faiss()
    blob = faiss.serialize_index_binary(index) if isinstance(index, faiss.IndexBinary) else faiss.serialize_index(index)
    with atomic_file(path) as f:
        f.write(np.asarray(blob, dtype=np.uint8).tobytes())


def read_index(path):
    """Read a FAISS index file (float or binary)."""
    faiss = _faiss()
    blob = np.fromfile(path, dtype=np.uint8)
    try:
        return faiss.deserialize_index(blob)
    except RuntimeError:
        try:
            return faiss.deserialize_index_binary(blob)
        except RuntimeError as exc:
            raise VectroError(f"{path} is not a FAISS index file: {exc}") from exc
