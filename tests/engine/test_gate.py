"""An erasure never overlaps a store append made outside the engine's lock."""

from __future__ import annotations

import threading
import time

from attune.engine.gate import AppendGate


def test_an_erasure_waits_for_appends_in_flight_and_holds_new_ones_back() -> None:
    lock = threading.RLock()
    gate = AppendGate(lock)
    order: list[str] = []
    appending, release = threading.Event(), threading.Event()

    def append(name: str, hold: threading.Event | None) -> None:
        with gate.append():
            order.append(f"{name} start")
            if hold is not None:
                appending.set()
                hold.wait(5)
            order.append(f"{name} end")

    def erase() -> None:
        with lock, gate.alone():
            order.append("erase start")
            time.sleep(0.05)
            order.append("erase end")

    first = threading.Thread(target=append, args=("a", release))
    first.start()
    assert appending.wait(5)
    eraser = threading.Thread(target=erase)
    eraser.start()
    time.sleep(0.05)
    assert order == ["a start"]  # the erasure waits for the append in flight
    later = threading.Thread(target=append, args=("b", None))
    later.start()
    time.sleep(0.05)
    assert order == ["a start"]  # a new append waits behind the waiting erasure
    release.set()
    for t in (first, eraser, later):
        t.join(5)
    assert order == ["a start", "a end", "erase start", "erase end", "b start", "b end"]
