"""A drop-in for `spectraltm`: change one import line and SpectraLTM code runs on vectro.

    from vectro.integrations.spectraltm import SpectralEncoder, SpectralIndex   # was: from spectraltm import ...

    enc = SpectralEncoder(dim=384, top_k=64, mag_bits=8, phase_bits=8, norm_bits=8)
    enc.calibrate(sample)                    # numpy arrays or (flat or nested) lists
    idx = SpectralIndex(enc)
    idx.add_embeddings(db)
    top_idx, top_scores = idx.search_batch(queries, top_k=10)   # nested lists, as spectraltm returns

It runs on vectro's `spectral:K` codec (same scheme: top-K rFFT bins, calibrated magnitude and
norm grids, uniform phase grid, Parseval scoring) and a vectro.Index, so numpy >= 2.4 arrays work
directly (spectraltm 0.1.1 crashes on them) and the index can be saved, filtered and re-ranked.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validation import as_matrix
from ..codecs.base import make_codec
from ..errors import VectroError
from ..index import Index


class SpectralCodes(NamedTuple):
    idx: np.ndarray  # kept rFFT bin numbers (K,)
    mag_q: np.ndarray  # magnitude codes (K,)
    phase_q: np.ndarray  # phase codes (K,)
    norm_q: int  # norm code


def _rows(values, dim: int, name: str) -> np.ndarray:
    """Accept (n, dim) arrays or nested lists, a single (dim,) vector, or a flat list of n * dim values."""
    arr = np.asarray(values, dtype=np.float32) if not isinstance(values, np.ndarray) else values
    if arr.ndim == 1:
        if len(arr) % dim:
            raise VectroError(f"{name}: a flat input needs a multiple of dim={dim} values, got {len(arr)}")
        arr = arr.reshape(-1, dim)
    return as_matrix(arr, name, dim)


class SpectralEncoder:
    def __init__(self, dim: int, top_k: int = 8, mag_bits: int = 8, phase_bits: int = 8, norm_bits: int = 8):
        self.dim = int(dim)
        self.codec = make_codec(f"spectral:{top_k},{mag_bits},{phase_bits},{norm_bits}")

    @property
    def bytes_per_chunk(self) -> int:
        return self.codec.bytes_per_vector(self.dim)

    def calibrate(self, sample) -> "SpectralEncoder":
        self.codec.fit(_rows(sample, self.dim, "sample"))
        return self

    def _check(self):
        if self.codec.dim_ is None:
            raise VectroError("SpectralEncoder is not calibrated yet; call calibrate(sample) first")

    def encode(self, vector) -> SpectralCodes:
        """Codes of one vector (the bins, magnitude, phase and norm codes)."""
        self._check()
        row = self.codec.encode(_rows(vector, self.dim, "vector")[:1])[0]
        k, width = self.codec.top_k, self.codec.top_k * self.codec._index_bytes(self.dim)
        bins = row[:width].view("<u1" if width == k else "<u2").astype(np.int64)
        return SpectralCodes(bins, row[width : width + k].copy(), row[width + k : width + 2 * k].copy(), int(row[-1]))

    def decode(self, codes_or_vector) -> np.ndarray:
        """The float32 vector the codes stand for (inverse FFT of the kept bins)."""
        self._check()
        return self.codec.decode(self.codec.encode(_rows(codes_or_vector, self.dim, "vector")))[0]


class SpectralIndex:
    def __init__(self, encoder: SpectralEncoder):
        encoder._check()
        self.encoder = encoder
        self.index = Index(encoder.dim, encoder.codec, metric="ip")

    def __len__(self) -> int:
        return len(self.index)

    def add_embeddings(self, embeddings) -> None:
        self.index.add(_rows(embeddings, self.encoder.dim, "embeddings"))

    def search(self, query, top_k: int = 10) -> tuple[list[int], list[float]]:
        ids, scores = self.index.search(_rows(query, self.encoder.dim, "query")[0], top_k)
        keep = ids >= 0
        return ids[keep].tolist(), scores[keep].tolist()

    def search_batch(self, queries, top_k: int = 10) -> tuple[list[list[int]], list[list[float]]]:
        ids, scores = self.index.search(_rows(queries, self.encoder.dim, "queries"), top_k)
        return ([row[row >= 0].tolist() for row in ids],
                [s[row >= 0].tolist() for row, s in zip(ids, scores)])
