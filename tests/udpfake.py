"""A UDP responder in a thread, for agent behaviour no real agent shows on demand (garbage,
damaged answers). Each test that uses one says why a fake is needed there."""

from __future__ import annotations

import socket
import threading
from typing import Callable, Iterable


class UdpResponder:
    """On 127.0.0.1, a free port: `answer(request)` gives the datagrams to send back."""

    def __init__(self, answer: Callable[[bytes], Iterable[bytes]]) -> None:
        self.answer = answer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.02)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                request, source = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            for datagram in self.answer(request):
                self.sock.sendto(datagram, source)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def ask(endpoint: tuple[str, int], request: bytes, timeout_s: float = 2.0) -> bytes:
    """One request to a real agent, its answer (what a relay passes on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        sock.sendto(request, endpoint)
        return sock.recv(65535)
