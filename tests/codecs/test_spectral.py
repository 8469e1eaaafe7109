"""spectral:K scores batches of up to IN_PLACE_QUERIES queries from the codes, through per-query tables over
(bin, phase code), and larger ones from decoded blocks: both equal the decoded vectors' inner products."""

import numpy as np

from vectro.codecs import make_codec
from vectro.kernels import IN_PLACE_QUERIES


def test_batches_up_to_in_place_queries_score_through_tables(sample, monkeypatch):
    base, queries = sample
    codec = make_codec("spectral:16").fit(base[:2000])
    codes = codec.encode(base[:300])
    decoded = codec.decode(codes).astype(np.float64)
    decodes, plain = [], type(codec)._decode_block
    monkeypatch.setattr(type(codec), "_decode_block", lambda self, c: decodes.append(len(c)) or plain(self, c))
    for nq in (1, IN_PLACE_QUERIES, IN_PLACE_QUERIES + 1):
        decodes.clear()
        expected = queries[:nq].astype(np.float64) @ decoded.T
        scores = codec.inner_products(queries[:nq], codes)
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
        assert bool(decodes) == (nq > IN_PLACE_QUERIES), f"nq={nq}"
