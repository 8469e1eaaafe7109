"""A tiny deterministic bag-of-words embedding for the framework tests: texts sharing words are close."""

import hashlib
import re

import numpy as np

DIM = 32


def embed(text: str, dim: int = DIM) -> list[float]:
    vector = np.zeros(dim, dtype=np.float64)
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
    norm = np.linalg.norm(vector)
    return (vector / norm if norm else vector + 1.0 / np.sqrt(dim)).tolist()


TEXTS = [
    "cats purr and sleep all day",
    "dogs bark at the mail carrier",
    "compressed vectors keep search fast",
    "int8 codes store one scale per vector",
    "the cat sat on the warm mat",
    "search engines rank documents by relevance",
]
