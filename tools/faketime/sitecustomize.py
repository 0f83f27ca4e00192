"""Loaded by every Python process `scripts/test-dates` starts (it puts this folder on PYTHONPATH).

Under libfaketime with the monotonic clock left real (FAKETIME_DONT_FAKE_MONOTONIC=1, needed
because Python's timed lock waits use the monotonic clock), libfaketime 0.9.10 breaks
`clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`, which `time.sleep` uses: EINVAL. This
`time.sleep` waits with `select` on the real monotonic clock instead. Nothing else changes.
"""

import os

if os.environ.get("FAKETIME"):
    import select
    import time

    def _sleep(secs: float, _select=select.select, _monotonic=time.monotonic) -> None:
        if secs < 0:
            raise ValueError("sleep length must be non-negative")
        end = _monotonic() + secs
        while (left := end - _monotonic()) > 0:
            _select([], [], [], left)

    time.sleep = _sleep
