"""Shared by the database tests: recall, unit rows, an interrupting progress callback."""

import numpy as np


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth)]))


def unit(X: np.ndarray) -> np.ndarray:
    return X / np.linalg.norm(X, axis=1, keepdims=True)


class StopAfter:
    """A progress callback that interrupts an export after `batches` committed batches."""

    def __init__(self, batches: int):
        self.batches, self.calls = batches, []

    def __call__(self, done, total):
        self.calls.append(done)
        if len(self.calls) >= self.batches:
            raise KeyboardInterrupt
