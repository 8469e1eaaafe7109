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
        "nf4", "the smallest codec with recall@10 >= 0.95 without re-ranking",
        "recall@10 0.960, nDCG@10 0.991, 196 B/vector (7.8x)"),
    "fast": Profile(
        "binary", "the smallest codec that encodes at >= 1M vectors/s and reaches recall@10 >= 0.95 after "
                  "re-ranking 100 candidates with the float vectors (no training; Hamming-capable codes)",
        "recall@10 0.750 alone, 0.996 after re-ranking 100; 48 B/vector (32x)"),
    "compact": Profile(
        "pq:48x4", "the smallest codec with recall@10 >= 0.95 after re-ranking 100 candidates",
        "recall@10 0.62 alone, 0.977 after re-ranking 100; 24 B/vector + 48 KB of codebooks (64x)"),
}


def profile_codec(name: str) -> str:
    """The codec spec a profile stands for, or a VectroError listing the profiles."""
    try:
        return PROFILES[name.lower()].codec
    except (KeyError, AttributeError):
        raise VectroError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
