"""Time in the simulated Orb account: the exported months, delivery batches and accounting-period locks.

All instants are ints (seconds since the Unix epoch, UTC); days are ints (days since 1970-01-01).
Owns the lock rule the `_event` resources follow (SPEC §3 "Accounting period locks"): an event whose
`timestamp` falls on or before the latest period_end closed (status closed, not deleted, locked_at on or
before the event's created_at) is moved to the first day after that period_end.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field

DAY = 86_400
HOUR = 3_600
MINUTE = 60

_EPOCH = dt.date(1970, 1, 1)


def day_of(date: dt.date) -> int:
    return (date - _EPOCH).days


def date_of(day: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=day)


def add_months(date: dt.date, months: int) -> dt.date:
    index = date.year * 12 + (date.month - 1) + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Calendar:
    """The export window: `months` whole months ending the day before `end` (the first day after history).

    Month k (0-based) runs from `month_start[k]` to `month_start[k + 1]`; `month_start[months]` is `end` and
    one more month start follows it (the service period of the upcoming draft invoice's in-advance fees).
    Batch 1 is delivered the day before `end` (cut at 06:00 UTC), batch 2 on `end` (the export time, `now`).
    """

    end: dt.date
    months: int
    month_start: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        first = add_months(self.end, -self.months)
        starts = tuple(day_of(add_months(first, k)) * DAY for k in range(self.months + 2))
        object.__setattr__(self, "month_start", starts)

    @property
    def end_ts(self) -> int:
        return self.month_start[self.months]

    @property
    def batch1_cut(self) -> int:
        """Rows updated up to this instant are in the first delivery, later ones in the second."""
        return self.end_ts - DAY + 6 * HOUR

    @property
    def now(self) -> int:
        """Export time: every created_at/updated_at is at or before it."""
        return self.end_ts + 6 * HOUR

    def delivery_names(self) -> tuple[str, str]:
        end = self.end
        return ((end - dt.timedelta(days=1)).isoformat(), end.isoformat())

    def batch_of(self, updated_at: int) -> int:
        return 1 if updated_at <= self.batch1_cut else 2

    def month_ts(self, k: int) -> int:
        """Start of month k for any k (also beyond the window)."""
        if 0 <= k < len(self.month_start):
            return self.month_start[k]
        return day_of(add_months(add_months(self.end, -self.months), k)) * DAY

    def month_days(self, k: int) -> int:
        return (self.month_start[k + 1] - self.month_start[k]) // DAY

    def month_of(self, ts: int) -> int:
        """Index of the month containing `ts` (may be -1 before the window or `months` after it)."""
        return bisect.bisect_right(self.month_start, ts) - 1


@dataclass(frozen=True)
class PeriodLock:
    """One accounting_period_lock row (final state)."""

    id: str
    period_start_day: int
    period_end_day: int
    status: str  # closed | lock_pending
    created_at: int
    locked_at: int | None
    deleted_at: int | None = None

    @property
    def effective(self) -> bool:
        return self.status == "closed" and self.deleted_at is None and self.locked_at is not None


class LockBook:
    """Answers "which days were closed at instant t" from the effective locks (closed, not deleted)."""

    def __init__(self, locks: list[PeriodLock]) -> None:
        steps = sorted((lock.locked_at, lock.period_end_day) for lock in locks if lock.effective)
        self._times: list[int] = []
        self._closed_through: list[int] = []
        latest = -1
        for locked_at, period_end in steps:
            assert locked_at is not None
            latest = max(latest, period_end)
            self._times.append(locked_at)
            self._closed_through.append(latest)

    def steps(self) -> list[tuple[int, int]]:
        """(locked_at, last closed day from then on), ordered by locked_at: the table the SQL side joins to."""
        return list(zip(self._times, self._closed_through))

    def closed_through(self, at: int) -> int | None:
        """The last closed day at instant `at` (None when nothing is closed yet)."""
        i = bisect.bisect_right(self._times, at) - 1
        return self._closed_through[i] if i >= 0 else None

    def adjust(self, timestamp: int, created_at: int) -> int:
        """lock_adjusted_timestamp of an event recognized at `timestamp` and emitted at `created_at`."""
        closed = self.closed_through(created_at)
        if closed is not None and timestamp // DAY <= closed:
            return (closed + 1) * DAY
        return timestamp
