"""Prometheus text exposition: request counts and latency histograms by route, and per-collection gauges.

Kept dependency-free: a few counters under one lock, rendered on GET /metrics.
"""

from __future__ import annotations

import threading
from collections import defaultdict

#: latency histogram bucket upper bounds, seconds
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.requests: dict[tuple, int] = defaultdict(int)  # (method, route, status) -> count
        self.latency: dict[tuple, list] = {}  # (method, route) -> [bucket counts..., sum, count]

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            hist = self.latency.setdefault((method, route), [0] * len(BUCKETS) + [0.0, 0])
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    hist[i] += 1
            hist[-2] += seconds
            hist[-1] += 1

    def render(self, collections: dict[str, dict]) -> str:
        """The text format; `collections` maps name -> {count, ram_bytes, disk_bytes}."""
        lines = ["# HELP vectro_requests_total HTTP requests by method, route and status.",
                 "# TYPE vectro_requests_total counter"]
        with self._lock:
            requests = sorted(self.requests.items())
            latency = sorted((key, list(hist)) for key, hist in self.latency.items())
        for (method, route, status), n in requests:
            lines.append(f'vectro_requests_total{{method="{method}",route="{_esc(route)}",status="{status}"}} {n}')
        lines += ["# HELP vectro_request_duration_seconds Request latency by method and route.",
                  "# TYPE vectro_request_duration_seconds histogram"]
        for (method, route), hist in latency:
            labels = f'method="{method}",route="{_esc(route)}"'
            for bound, n in zip(BUCKETS, hist):
                lines.append(f'vectro_request_duration_seconds_bucket{{{labels},le="{bound}"}} {n}')
            lines.append(f'vectro_request_duration_seconds_bucket{{{labels},le="+Inf"}} {hist[-1]}')
            lines.append(f"vectro_request_duration_seconds_sum{{{labels}}} {hist[-2]:.6f}")
            lines.append(f"vectro_request_duration_seconds_count{{{labels}}} {hist[-1]}")
        for metric, key, help_ in (("vectro_collection_records", "count", "Records per collection."),
                                   ("vectro_collection_ram_bytes", "ram_bytes", "Bytes of codes in RAM per collection."),
                                   ("vectro_collection_disk_bytes", "disk_bytes", "Bytes of vectors and payloads on disk.")):
            lines += [f"# HELP {metric} {help_}", f"# TYPE {metric} gauge"]
            for name, info in sorted(collections.items()):
                lines.append(f'{metric}{{collection="{_esc(name)}"}} {info[key]}')
        return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
