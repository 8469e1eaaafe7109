"""spectral:K scores up to IN_PLACE_QUERIES queries from the codes, through per-query tables over (bin,
phase code) built once per call, or, for a block too small to pay for them, through the queries' spectra;
larger batches decode. Every way gives the decoded vectors' inner products."""

import numpy as np
import pytest

from vectro.codecs import make_codec, spectral
from vectro.kernels import IN_PLACE_QUERIES


@pytest.mark.parametrize("spec, dim", [("spectral:16", 384), ("spectral:8,6,3,5", 600)])  # 600: 2-byte bin numbers
def test_a_few_queries_score_on_the_codes_and_many_decode(spec, dim, rng, monkeypatch):
    X = rng.standard_normal((4200, dim)).astype(np.float32)  # 4 x 4,200 rows pay for 64 queries' tables of 256
    Q = rng.standard_normal((IN_PLACE_QUERIES + 1, dim)).astype(np.float32)
    codec = make_codec(spec).fit(X[:2000])
    codes = codec.encode(X)
    decoded = codec.decode(codes).astype(np.float64)
    calls, plain, tables = [], type(codec)._decode_block, spectral._QuerySpectra.tables
    monkeypatch.setattr(type(codec), "_decode_block", lambda self, c: calls.append("decode") or plain(self, c))
    monkeypatch.setattr(spectral._QuerySpectra, "tables", lambda self, b: calls.append("tables") or tables(self, b))
    ways = ((1, 4200, "tables"), (IN_PLACE_QUERIES, 4200, "tables"), (IN_PLACE_QUERIES + 1, 4200, "decode"),
            (8, 10, None))  # 10 rows: the spectra's gathers, no tables
    for nq, rows, way in ways:
        calls.clear()
        expected = Q[:nq].astype(np.float64) @ decoded[:rows].T
        scores = codec.inner_products(Q[:nq], codes[:rows])
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
        assert set(calls) == ({way} if way else set()), f"nq={nq}, rows={rows}"
