"""The seed Vectro's `vectro.python.interface`: a thin module over vectro's real API.

    from vectro.python.interface import quantize_embeddings, reconstruct_embeddings
    out = quantize_embeddings(X)
    X_hat = reconstruct_embeddings(out["q"], out["scales"], out["dims"])
"""

from ..backend import get_backend_info
from ..compat import QuantizationResult, quantize_embeddings, reconstruct_embeddings
from ..metrics.evaluate import mean_cosine_similarity

__all__ = ["QuantizationResult", "get_backend_info", "mean_cosine_similarity", "quantize_embeddings",
           "reconstruct_embeddings"]
