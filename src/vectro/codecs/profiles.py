"""Named profiles: a codec chosen by `vectro tune` on real data for each common need.

A profile applies exactly the codec it names (never a silent fallback). Each one is the codec
the tuner picks by the rule beside it on the public all-MiniLM-L6-v2 set (50,000 passages,
d=384). What each measured there is not typed here: `benchmarks/quality.py --write-docs` writes
it to `data/profiles-measured.json` (with its command and commit), and `measured(name)` reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import VectroError

MEASURED = Path(__file__).resolve().parents[1] / "data" / "profiles-measured.json"


@dataclass(frozen=True)
class Profile:
    codec: str
    rule: str


PROFILES = {
    "quality": Profile(
        "int8", "the smallest codec with recall@10 >= 0.99 without re-ranking (int8-dim ties at 4 bytes less "
                "but clips values outside the ranges it was fitted on)"),
    "balanced": Profile(
        "nf4", "the smallest codec with recall@10 >= 0.95 without re-ranking that learns no subspace of your data "
               "(a PCA + rq composite can be smaller, but its PCA must fit your data: `vectro tune` finds such)"),
    "fast": Profile(
        "binary", "the smallest codec that encodes at >= 1M vectors/s and reaches recall@10 >= 0.95 after "
                  "re-ranking 100 candidates with the float vectors (no training; Hamming-capable codes)"),
    "compact": Profile(
        "opq:16", "the smallest codec with recall@10 >= 0.95 after re-ranking 100 candidates (it learns a "
                  "rotation and codebooks from your data)"),
}


@lru_cache(maxsize=1)
def _measurements() -> dict:
    try:
        return json.loads(MEASURED.read_text())
    except (OSError, ValueError):
        return {}


def measured(name: str) -> str:
    """What profile `name` measured on the public set, as `benchmarks/quality.py` recorded it."""
    record = _measurements().get("profiles", {}).get(name.lower())
    if not record or record.get("codec") != PROFILES[name.lower()].codec:
        return "not measured for this codec yet (run benchmarks/quality.py --write-docs)"
    return (f"recall@10 {record['recall@10']:.3f} alone, {record['recall@10_rescored_100']:.3f} after re-scoring "
            f"100 candidates, nDCG@10 {record['ndcg@10']:.3f}; {record['bytes']} B/vector "
            f"({record['ratio']:.1f}x)")


def profile_codec(name: str) -> str:
    """The codec spec a profile stands for, or a VectroError listing the profiles."""
    try:
        return PROFILES[name.lower()].codec
    except (KeyError, AttributeError):
        raise VectroError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
