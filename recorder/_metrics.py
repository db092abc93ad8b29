"""The recorder's counters and gauges, and their Prometheus text exposition (format
0.0.4, written by hand: the venv has no Prometheus client and this is all it needs)."""

from __future__ import annotations

import threading
from collections import Counter


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Thread-safe: the consumer, the converter, the disk watch and HTTP share one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stored = 0
        self.failed: Counter[str] = Counter()
        self.conversion_sum = 0.0
        self.conversion_count = 0
        self.disk_full: dict[str, bool] = {}
        self.pending = 0
        self.mixer_packets_ignored = 0

    def count_stored(self) -> None:
        with self._lock:
            self.stored += 1

    def count_failed(self, reason: str) -> None:
        with self._lock:
            self.failed[reason] += 1

    def observe_conversion(self, seconds: float) -> None:
        with self._lock:
            self.conversion_sum += seconds
            self.conversion_count += 1

    def count_ignored(self, packets: int) -> None:
        with self._lock:
            self.mixer_packets_ignored += packets

    def set_disk_full(self, path: str, full: bool) -> None:
        with self._lock:
            self.disk_full[path] = full

    def set_pending(self, pending: int) -> None:
        with self._lock:
            self.pending = pending

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP recorder_recordings_stored_total Recordings converted and stored.",
                "# TYPE recorder_recordings_stored_total counter",
                f"recorder_recordings_stored_total {self.stored}",
                "# HELP recorder_recordings_failed_total Recordings that failed, by reason.",
                "# TYPE recorder_recordings_failed_total counter",
            ]
            lines += [
                f'recorder_recordings_failed_total{{reason="{_label(r)}"}} {n}'
                for r, n in sorted(self.failed.items())
            ]
            lines += [
                "# HELP recorder_conversion_seconds Time to convert and store one recording.",
                "# TYPE recorder_conversion_seconds summary",
                f"recorder_conversion_seconds_sum {self.conversion_sum!r}",
                f"recorder_conversion_seconds_count {self.conversion_count}",
                "# HELP recorder_mixer_packets_ignored_total RTP packets from monitoring mixers"
                " left out of call recordings.",
                "# TYPE recorder_mixer_packets_ignored_total counter",
                f"recorder_mixer_packets_ignored_total {self.mixer_packets_ignored}",
                "# HELP recorder_disk_full 1 while a watched directory is below min_free_mb.",
                "# TYPE recorder_disk_full gauge",
            ]
            lines += [
                f'recorder_disk_full{{path="{_label(p)}"}} {int(full)}'
                for p, full in sorted(self.disk_full.items())
            ]
            lines += [
                "# HELP recorder_pending Stopped recordings waiting for their segments.",
                "# TYPE recorder_pending gauge",
                f"recorder_pending {self.pending}",
            ]
        return "\n".join(lines) + "\n"
