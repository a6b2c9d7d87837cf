"""Outcome classification and the iteration loop shared by every fuzz target.

Outcomes: ``error`` (the reader/converter refused the input with its own one-line error type),
``accepted`` (it read/converted it), ``crash`` (anything else raised: a bug) and ``hang`` (the iteration
ran past its timeout). A run fails when any crash or hang occurs; the first few of each are kept with
the target, seed and iteration that reproduce them (``python tools/fuzz/long_run.py --replay ...``).
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

OUTCOMES = ("error", "accepted", "crash", "hang")
KEEP = 5


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so a target's `except Exception` cannot swallow it."""


def _alarm(signum, frame):
    raise _Timeout


@dataclass
class Report:
    target: str
    seed: int
    counts: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=lambda: {"crash": [], "hang": []})
    seconds: float = 0.0
    verdicts: list = field(default_factory=list)      # the outcome of each iteration, in order

    def add(self, outcome: str, iteration: int, detail: str = "") -> None:
        self.counts[outcome] += 1
        self.verdicts.append(outcome)
        if outcome in self.examples and len(self.examples[outcome]) < KEEP:
            self.examples[outcome].append({"iteration": iteration, "detail": detail[:400]})

    @property
    def failed(self) -> bool:
        return bool(self.counts["crash"] or self.counts["hang"])

    def summary(self) -> str:
        counts = ", ".join(f"{k} {self.counts[k]}" for k in OUTCOMES)
        return f"{self.target} (seed {self.seed}): {sum(self.counts.values())} iterations, {counts}, " \
               f"{self.seconds:.1f} s"

    def as_dict(self) -> dict:
        return {"target": self.target, "seed": self.seed, "counts": {k: self.counts[k] for k in OUTCOMES},
                "seconds": round(self.seconds, 1), "examples": self.examples}


def classify(run: Callable[[], object], own: tuple, timeout: float) -> tuple[str, str]:
    """(outcome, detail) of one call of ``run``; ``own`` lists the exception types that are own errors."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        run()
        return "accepted", ""
    except _Timeout:
        return "hang", f"ran past {timeout} s"
    except own as e:
        text = str(e)
        if "\n" in text.strip():
            return "crash", f"multi-line error: {text[:300]}"
        return "error", text
    except BaseException as e:  # noqa: BLE001 (anything else is what we are hunting)
        if isinstance(e, (KeyboardInterrupt,)):
            raise
        return "crash", f"{type(e).__name__}: {e}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_target(name: str, seed: int, cases: Iterable[tuple[int, Callable[[], object]]], own: tuple,
               timeout: float, limit_seconds: Optional[float] = None, on_case=None) -> Report:
    """Classify each (iteration, thunk) of ``cases``; stop early after ``limit_seconds``."""
    report = Report(name, seed)
    start = time.perf_counter()
    for iteration, thunk in cases:
        outcome, detail = classify(thunk, own, timeout)
        report.add(outcome, iteration, detail)
        if on_case is not None:
            on_case(iteration, outcome, detail)
        if limit_seconds is not None and time.perf_counter() - start > limit_seconds:
            break
    report.seconds = time.perf_counter() - start
    return report
