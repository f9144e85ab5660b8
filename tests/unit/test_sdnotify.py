"""The notify protocol over a real unix datagram socket, as systemd would receive it."""

import os
import socket
from pathlib import Path

from monitor.sdnotify import Notifier


def test_ready_status_watchdog_reach_the_socket(tmp_path):
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())})
        assert notifier.watchdog_interval_s == 2.0
        notifier.ready("3 devices")
        notifier.watchdog()
        notifier.status("all fine")
        messages = [server.recv(4096).decode() for _ in range(3)]
    assert messages[0].splitlines()[:2] == ["READY=1", "STATUS=3 devices"]
    assert messages[1] == "WATCHDOG=1"
    assert messages[2] == "STATUS=all fine"


def test_abstract_socket_names_are_supported():
    name = f"netvigil-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).notify("READY=1")
        assert server.recv(100) == b"READY=1"


def test_without_notify_socket_nothing_is_sent_and_no_watchdog():
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.notify("READY=1") is False
    assert notifier.watchdog_interval_s is None


def test_watchdog_meant_for_another_pid_is_ignored():
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).watchdog_interval_s is None


def test_a_receiver_that_stopped_reading_never_blocks_the_sender(tmp_path):
    import threading

    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(tmp_path / "notify.sock"))  # bound, never read: its queue fills up
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
    # The queue holds net.unix.max_dgram_qlen datagrams (10 here; more on some kernels).
    queue = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
    results: list[bool] = []
    sender = threading.Thread(
        target=lambda: results.extend(notifier.notify(f"STATUS={n}") for n in range(queue + 4)), daemon=True)
    sender.start()
    sender.join(60)  # a blocking send would never return
    assert not sender.is_alive()
    assert results[0] is True and results[-1] is False  # the first went out, the overflow was dropped
    notifier.close()
    receiver.close()
