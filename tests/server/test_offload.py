import asyncio
import threading
import time

import pytest

from attune.server.offload import ThreadPool


def test_pool_runs_calls_off_the_loop_and_returns_results_and_errors() -> None:
    pool = ThreadPool(2)
    loop_thread: list[threading.Thread] = []

    def where() -> str:
        return threading.current_thread().name

    def boom() -> None:
        raise KeyError("no such user")

    async def main() -> None:
        loop_thread.append(threading.current_thread())
        names = await asyncio.gather(*[pool.run(where) for _ in range(20)])
        assert all(n.startswith("attune-engine-") for n in names)
        with pytest.raises(KeyError, match="no such user"):
            await pool.run(boom)
        assert await pool.run(lambda: 41 + 1) == 42

    asyncio.run(main())
    pool.close()
    assert loop_thread[0].name == "MainThread"


def test_pool_runs_calls_concurrently_up_to_its_size() -> None:
    pool = ThreadPool(3)
    running, peak = 0, 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    async def main() -> None:
        await asyncio.gather(*[pool.run(work) for _ in range(9)])

    asyncio.run(main())
    pool.close()
    assert peak == 3


def test_a_cancelled_caller_does_not_break_the_pool() -> None:
    pool = ThreadPool(1)
    gate = threading.Event()

    async def main() -> None:
        slow = asyncio.ensure_future(pool.run(lambda: gate.wait(5)))
        await asyncio.sleep(0.01)
        slow.cancel()
        gate.set()
        assert await pool.run(lambda: "still serving") == "still serving"

    asyncio.run(main())
    pool.close()
