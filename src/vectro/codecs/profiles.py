"""Named profiles: a codec chosen by `vectro tune` on real data for each common need.

A profile applies exactly the codec it names (never a silent fallback). Each one is the codec
the tuner picks by the rule beside it on the public all-MiniLM-L6-v2 set (50,000 passages,
d=384); `benchmarks/quality.py` reruns the tuner and reports whether the picks still hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import VectroError


@dataclass(frozen=True)
class Profile:
    codec: str
    rule: str
    measured: str


PROFILES = {
    "quality": Profile(
        "int8", "the smallest codec with recall@10 >= 0.99 without re-ranking (int8-dim ties at 4 bytes less "
                "but clips values outside the ranges it was fitted on)",
        "recall@10 0.997, nDCG@10 0.9995, 388 B/vector (4.0x)"),
    "balanced": Profile(
        "nf4", "the smallest codec with recall@10 >= 0.95 without re-ranking that learns no subspace of your data "
               "(pca:256+rq:4 reaches 0.951 at 132 B on this set, but its PCA must fit your data: `vectro tune` finds such)",
        "recall@10 0.960, nDCG@10 0.991, 196 B/vector (7.8x)"),
    "fast": Profile(
        "binary", "the smallest codec that encodes at >= 1M vectors/s and reaches recall@10 >= 0.95 after "
                  "re-ranking 100 candidates with the float vectors (no training; Hamming-capable codes)",
        "recall@10 0.750 alone, 0.996 after re-ranking 100; 48 B/vector (32x)"),
    "compact": Profile(
        "opq:16", "the smallest codec with recall@10 >= 0.95 after re-ranking 100 candidates (its OPQ rotation "
                  "and codebooks, about 1 MB, take a minute to learn on 50,000 vectors)",
        "recall@10 0.638 alone, 0.975 after re-ranking 100; 16 B/vector + 0.98 MB of rotation and codebooks (96x)"),
}


def profile_codec(name: str) -> str:
    """The codec spec a profile stands for, or a VectroError listing the profiles."""
    try:
        return PROFILES[name.lower()].codec
    except (KeyError, AttributeError):
        raise VectroError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
