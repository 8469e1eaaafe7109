"""Search on compressed vectors: `Index` (brute force on codes, HNSW candidates, re-ranking)."""

from .core import Index

__all__ = ["Index"]
