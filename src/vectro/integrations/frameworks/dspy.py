"""A DSPy retriever module over a compressed vectro DocumentIndex.

    from vectro.integrations.frameworks.dspy import VectroRetriever
    retrieve = VectroRetriever(embedder, corpus, k=3)          # embedder: dspy.Embedder or any texts -> vectors callable
    retrieve("what do cats do?").passages                      # the k best passages, best first

Needs `vectro[dspy]` (dspy).
"""

from __future__ import annotations

import numpy as np

from ...errors import require
from ...index.documents import DocumentIndex

dspy = require("dspy", "dspy")


class VectroRetriever(dspy.Module):
    """Embeds the corpus once into a compressed index; `forward(query, k)` returns dspy.Prediction
    with `passages`, `indices` (corpus positions) and `scores`, best first."""

    def __init__(self, embedder, corpus: list[str], k: int = 5, codec: str = "int8", metric: str = "cosine"):
        super().__init__()
        self.embedder, self.k = embedder, k
        self.corpus = list(corpus)
        self.store = DocumentIndex(None, codec, metric)
        self.store.upsert([str(i) for i in range(len(self.corpus))], np.asarray(embedder(self.corpus)), self.corpus)

    def forward(self, query: str, k: int | None = None):
        vector = np.asarray(self.embedder([query]), dtype=np.float32).reshape(-1)
        hits = self.store.search(vector, k or self.k)
        indices = [int(i) for i, _ in hits]
        return dspy.Prediction(passages=[self.corpus[i] for i in indices], indices=indices,
                               scores=[s for _, s in hits])
