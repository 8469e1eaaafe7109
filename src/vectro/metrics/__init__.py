"""Quality metrics: ranking agreement with exact search, and reconstruction fidelity."""

from .evaluate import evaluate, exact_search, mean_cosine_similarity, row_cosines
from .ranking import mrr_at_k, ndcg_at_k, recall_at_k, top_k

__all__ = ["evaluate", "exact_search", "mean_cosine_similarity", "row_cosines",
           "mrr_at_k", "ndcg_at_k", "recall_at_k", "top_k"]
