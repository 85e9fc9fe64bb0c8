"""A real boto3 S3 client with faults the test chooses on some calls (the server stays real).

``FaultyClient(client).inject("upload_part", fault)`` makes the next call of
``upload_part`` that ``fault`` accepts go through ``fault(call, kwargs)``
instead, where ``call`` is the real method: a fault may raise without calling
it (a request that never arrived), call it and then raise (an answer lost on
the way back), or do something to the server first (another request racing).
Every other call goes straight to the real client.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

Call = Callable[..., Any]
Fault = Callable[[Call, dict[str, Any]], Any]


def answer_lost(call: Call, kwargs: dict[str, Any]) -> Any:
    """The request is served, then the client times out waiting for the answer."""
    call(**kwargs)
    raise ReadTimeoutError(endpoint_url="http://s3/injected-read-timeout")


def never_sent(call: Call, kwargs: dict[str, Any]) -> Any:
    """The connection fails before the request reaches the server."""
    raise EndpointConnectionError(endpoint_url="http://s3/injected-connection-error")


class FaultyClient:
    """Delegates to ``client``; calls picked by :meth:`inject` go through a fault once each."""

    def __init__(self, client: Any) -> None:
        self.real = client
        self.calls: Counter[str] = Counter()
        #: (method, keyword arguments) of every request, in order.
        self.history: list[tuple[str, dict[str, Any]]] = []
        self._faults: list[tuple[str, Callable[[dict[str, Any]], bool], Fault]] = []
        self._lock = threading.Lock()

    def inject(
        self,
        method: str,
        fault: Fault,
        when: Callable[[dict[str, Any]], bool] = lambda kwargs: True,
        times: int = 1,
    ) -> None:
        """Let ``fault`` handle the next ``times`` calls of ``method`` for which ``when`` holds."""
        with self._lock:
            self._faults.extend([(method, when, fault)] * times)

    @property
    def pending(self) -> int:
        """Faults injected but not used yet."""
        with self._lock:
            return len(self._faults)

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.real, name)
        if not callable(real) or name.startswith("_"):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            if args:  # get_paginator(name) and the like: not an S3 request
                return real(*args, **kwargs)
            with self._lock:
                self.calls[name] += 1
                self.history.append((name, kwargs))
                fault = None
                for i, (method, when, candidate) in enumerate(self._faults):
                    if method == name and when(kwargs):
                        fault = candidate
                        del self._faults[i]
                        break
            if fault is None:
                return real(**kwargs)
            return fault(real, kwargs)

        return call
