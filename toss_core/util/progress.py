"""Progress for long work: rows/s and ETA, to a logger, so the console and Dagster logs both show it."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("toss")


class Progress:
    """Report `done/total` units (rows by default) with throughput and ETA, at most every `every_s` s."""

    def __init__(
        self,
        label: str,
        total: int | None,
        every_s: float = 2.0,
        logger: logging.Logger = log,
        unit: str = "rows",
    ):
        self.label = label
        self.unit = unit
        self.total = total
        self.every_s = every_s
        self.logger = logger
        self.done = 0
        self.start = time.perf_counter()
        self._last = self.start

    def update(self, rows: int, extra: str = "") -> None:
        self.done += rows
        now = time.perf_counter()
        if now - self._last >= self.every_s or (self.total is not None and self.done >= self.total):
            self._last = now
            self.logger.info(self.line(extra))

    @property
    def rate(self) -> float:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        return self.done / elapsed

    def line(self, extra: str = "") -> str:
        rate = self.rate
        parts = [f"{self.label}: {self.done:,}"]
        if self.total:
            pct = 100.0 * self.done / self.total
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            parts[0] += f"/{self.total:,} ({pct:.0f}%)"
            parts.append(f"ETA {eta:.0f}s")
        parts.insert(1, f"{rate:,.1f} {self.unit}/s" if rate < 100 else f"{rate:,.0f} {self.unit}/s")
        if extra:
            parts.append(extra)
        return " | ".join(parts)

    def finish(self, extra: str = "") -> float:
        """Log the final line and return elapsed seconds."""
        elapsed = time.perf_counter() - self.start
        self.logger.info(self.line(extra) + f" | done in {elapsed:.1f}s")
        return elapsed
