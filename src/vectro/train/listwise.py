"""Listwise ranking distillation of a projection (PyTorch): the loop behind `vectro train`.

For each anchor (a training vector used as a query) the candidates are its teacher top-k,
hard negatives drawn from teacher ranks k+1..L, the other anchors of the batch, and an optional
queue of recent anchors. The teacher's similarities are exact cosines in the original space; the
student's are the cosines vectro's search computes on the projected codes:
s(q, x) = q . x_hat / |x_hat| with x_hat = W^T f(x) + mean. With p = softmax(teacher / tau) and
q = softmax(student / tau) over each anchor's candidates, the loss is lambda * KL(p || q), plus
an optional mean squared error between the two similarity lists.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import require


class StudentProjection:
    """W (D, d), mean (d,) and the optional residual MLP as torch parameters, initialised from PCA."""

    def __init__(self, torch, components: np.ndarray, mean: np.ndarray, mlp_hidden: int | None):
        self.torch = torch
        self.weight = torch.nn.Parameter(torch.from_numpy(components.astype(np.float32).copy()))
        self.mean = torch.nn.Parameter(torch.from_numpy(mean.astype(np.float32).copy()))
        self.mlp_in = self.mlp_out = None
        if mlp_hidden:
            out_dim = components.shape[0]
            self.mlp_in = torch.nn.Parameter(torch.randn(mlp_hidden, out_dim) / math.sqrt(out_dim))
            self.mlp_out = torch.nn.Parameter(torch.zeros(out_dim, mlp_hidden))  # starts as the linear map

    def parameters(self) -> list:
        return [p for p in (self.weight, self.mean, self.mlp_in, self.mlp_out) if p is not None]

    def project(self, X):
        """f(x) for rows X (..., d) -> (..., D)."""
        Z = (X - self.mean) @ self.weight.T
        if self.mlp_in is not None:
            Z = Z + self.torch.nn.functional.gelu(Z @ self.mlp_in.T, approximate="tanh") @ self.mlp_out.T
        return Z

    def lifted_norms(self, Z):
        """|W^T z + mean| for rows Z (..., D), without forming the lifted vectors."""
        gram = self.weight @ self.weight.T
        folded_mean = self.weight @ self.mean
        sq = ((Z @ gram) * Z).sum(-1) + 2 * (Z @ folded_mean) + (self.mean * self.mean).sum()
        return self.torch.sqrt(self.torch.clamp(sq, min=1e-12))

    def arrays(self) -> dict:
        out = {"weight": self.weight, "mean": self.mean, "mlp_in": self.mlp_in, "mlp_out": self.mlp_out}
        return {k: v.detach().cpu().numpy().astype(np.float32).copy() for k, v in out.items() if v is not None}


def student_scores(arrays: dict, corpus: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The cosines search would compute with a model's arrays: queries (nq, d) x corpus (n, d) -> (nq, n)."""
    from ..codecs.learned import LearnedProjection

    model = LearnedProjection.from_arrays(arrays["weight"], arrays["mean"], None, arrays.get("mlp_in"),
                                          arrays.get("mlp_out"))
    Z = model.transform(corpus)
    from ..metrics.ranking import metric_scores

    lifted = model.inverse_transform(Z)
    Qz, offset = model.transform_queries(queries)
    return metric_scores(Qz @ Z.T + offset[:, None], np.einsum("ij,ij->i", lifted, lifted), "cosine")


def distill(config, train: np.ndarray, neighbours: np.ndarray, components: np.ndarray, mean: np.ndarray,
            validate, progress=None) -> dict:
    """Train from PCA init; returns the best (by validation) arrays and the per-epoch history.

    train: unit rows (n, d) float32. neighbours: teacher ranks (n, L) of train rows among train
    rows, self excluded. validate(arrays) -> validation recall.
    """
    torch = require("torch", "train")
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    X = torch.from_numpy(np.ascontiguousarray(train, dtype=np.float32))
    ranks = torch.from_numpy(np.ascontiguousarray(neighbours, dtype=np.int64))
    n, pool = ranks.shape
    k = min(config.k, pool)
    student = StudentProjection(torch, components, mean, config.mlp_hidden if config.mlp else None)
    optimiser = torch.optim.Adam(student.parameters(), lr=config.lr)
    steps_per_epoch = max(1, math.ceil(n / config.batch_size))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs * steps_per_epoch,
                                                          eta_min=config.lr * 0.05)
    queue = torch.empty(0, dtype=torch.int64)
    history = []
    best = {"recall": validate(student.arrays()), "arrays": student.arrays(), "epoch": 0}
    history.append({"epoch": 0, "loss": None, "val_recall": best["recall"], "seconds": 0.0})
    if progress:  # epoch 0 is the PCA start every later epoch is measured against
        progress(0, config.epochs, history[0])
    stale = 0
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(n, generator=generator)
        total, batches = 0.0, 0
        for start in range(0, n, config.batch_size):
            anchors = order[start : start + config.batch_size]
            loss = _batch_loss(torch, student, X, ranks, anchors, queue, k, config, generator)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total, batches = total + float(loss.detach()), batches + 1
            if config.queue_size:
                queue = torch.cat([anchors, queue])[: config.queue_size]
        recall = validate(student.arrays())
        history.append({"epoch": epoch, "loss": total / batches, "val_recall": recall,
                        "seconds": time.perf_counter() - started})
        if recall > best["recall"]:
            best, stale = {"recall": recall, "arrays": student.arrays(), "epoch": epoch}, 0
        else:
            stale += 1
        if progress:
            progress(epoch, config.epochs, history[-1])
        if config.patience and stale >= config.patience:
            break
    return {"arrays": best["arrays"], "best_epoch": best["epoch"], "best_val_recall": best["recall"],
            "history": history, "train_seconds": time.perf_counter() - started}


def _batch_loss(torch, student, X, ranks, anchors, queue, k, config, generator):
    q = X[anchors]  # (B, d), unit rows: teacher cosines are dot products
    pool = ranks.shape[1]
    candidates = ranks[anchors, :k]
    if config.hard_neg_per_anchor and pool > k:
        picks = torch.randint(k, pool, (len(anchors), config.hard_neg_per_anchor), generator=generator)
        candidates = torch.cat([candidates, torch.gather(ranks[anchors], 1, picks)], dim=1)
    own = X[candidates]  # (B, c, d)
    teacher = [torch.einsum("bd,bcd->bc", q, own), q @ q.T]
    z_own, z_batch = student.project(own), student.project(q)
    q_folded, q_offset = q @ student.weight.T, q @ student.mean
    student_lists = [(torch.einsum("bd,bcd->bc", q_folded, z_own) + q_offset[:, None]) / student.lifted_norms(z_own),
                     (q_folded @ z_batch.T + q_offset[:, None]) / student.lifted_norms(z_batch)[None, :]]
    if len(queue):
        queued = X[queue]
        z_queue = student.project(queued)
        teacher.append(q @ queued.T)
        student_lists.append((q_folded @ z_queue.T + q_offset[:, None]) / student.lifted_norms(z_queue)[None, :])
    T, S = torch.cat(teacher, dim=1), torch.cat(student_lists, dim=1)
    # an anchor is not its own candidate: its in-batch column gets a logit whose softmax weight is 0
    c = candidates.shape[1]
    self_mask = torch.zeros_like(T, dtype=torch.bool)
    self_mask[torch.arange(len(anchors)), c + torch.arange(len(anchors))] = True
    if len(queue):
        self_mask[:, c + len(anchors):] |= anchors[:, None] == queue[None, :]
    log_p = torch.log_softmax((T / config.tau).masked_fill(self_mask, -1e9), dim=1)
    log_q = torch.log_softmax((S / config.tau).masked_fill(self_mask, -1e9), dim=1)
    loss = config.lambda_list * (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()
    if config.mse_weight:
        loss = loss + config.mse_weight * ((S - T) ** 2).masked_fill(self_mask, 0).mean()
    return loss
