"""Summary statistics for timings."""
from __future__ import annotations

import statistics
from typing import Dict, Optional, Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of the sorted values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def summary_ms(seconds: Sequence[float]) -> Dict[str, Optional[float]]:
    """n, p50, p95, p99 and mean in milliseconds (None figures when there are no values)."""
    if not seconds:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "mean": None}
    ms = [value * 1000 for value in seconds]
    return {"n": len(ms), "p50": round(percentile(ms, 0.50), 2), "p95": round(percentile(ms, 0.95), 2),
            "p99": round(percentile(ms, 0.99), 2), "mean": round(statistics.mean(ms), 2)}


def median_ms(seconds: Sequence[float]) -> Optional[float]:
    """The median in milliseconds, or None for no values."""
    return round(statistics.median(seconds) * 1000, 2) if seconds else None


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    """numerator / denominator to 3 decimals; None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)
