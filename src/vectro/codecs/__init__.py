"""Codecs: every way vectro turns float vectors into bytes, behind one protocol (see base.py)."""

from .base import Codec, StageSpec, make_codec, parse_spec, register, registered_codecs

__all__ = ["Codec", "StageSpec", "make_codec", "parse_spec", "register", "registered_codecs"]
