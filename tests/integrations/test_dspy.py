"""The DSPy retriever module, called as DSPy calls modules, with a dspy.Embedder over a local function."""

import numpy as np
import pytest

dspy = pytest.importorskip("dspy")
from vectro.integrations.frameworks.dspy import VectroRetriever  # noqa: E402

from ._embeddings import TEXTS, embed  # noqa: E402


def test_retriever_returns_the_nearest_passages():
    embedder = dspy.Embedder(lambda texts: np.array([embed(t) for t in texts]))
    retrieve = VectroRetriever(embedder, TEXTS, k=2)
    result = retrieve("dogs bark at cats")
    q = np.array(embed("dogs bark at cats"))
    expected = sorted(range(6), key=lambda i: -float(np.dot(q, embed(TEXTS[i]))))[:2]
    assert result.indices == expected and result.passages == [TEXTS[i] for i in expected]
    assert retrieve("search", k=4).passages.__len__() == 4
