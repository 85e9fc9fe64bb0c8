"""`TimedAPI`: a compute API that counts and times every call a service makes through it."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from alchemiscale_like.client import ComputeClient
from alchemiscale_like.compute.api import ComputeAPI


class TimedAPI:
    """Wraps a :class:`ComputeClient`: each method call is counted and timed by name.

    Times are client-side wall times (encode, HTTP round trip, server, decode).
    """

    def __init__(self, client: ComputeClient) -> None:
        self._client = client
        self.service_id = client.service_id
        self.calls: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                taken = time.perf_counter() - started
                with self._lock:
                    self.calls[name] = self.calls.get(name, 0) + 1
                    self.seconds[name] = self.seconds.get(name, 0.0) + taken

        return timed

    def as_compute_api(self) -> ComputeAPI:
        """This object typed as the protocol the service expects (it has every method)."""
        return cast(ComputeAPI, self)

    def breakdown(self, per: int) -> dict[str, Any]:
        """Calls and milliseconds of each method, per ``per`` tasks (or units), slowest first."""
        with self._lock:
            names = sorted(self.seconds, key=self.seconds.__getitem__, reverse=True)
            rows = {
                name: {
                    "calls_per": round(self.calls[name] / per, 2),
                    "ms_per_call": round(self.seconds[name] / self.calls[name] * 1000, 2),
                    "ms_per": round(self.seconds[name] / per * 1000, 2),
                }
                for name in names
            }
            total_calls = sum(self.calls.values())
            total_s = sum(self.seconds.values())
        return {
            "calls_per": round(total_calls / per, 2),
            "api_ms_per": round(total_s / per * 1000, 2),
            "by_method": rows,
        }
