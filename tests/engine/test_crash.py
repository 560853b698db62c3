"""A process killed with SIGKILL while ingesting loses no acknowledged event."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from attune.data.events import Interaction
from attune.engine.engine import Engine

WRITER = """
import sys
from attune.engine.engine import Engine
from attune.data.events import Interaction
engine = Engine.open(sys.argv[1], sys.argv[2])
print("ready", flush=True)
n = 0
while True:
    batch = [Interaction(user_id=f"crash{n % 7}", item_id=f"c{n % 4}-{n % 15}",
                         context={"n": n + j}) for j in range(3)]
    result = engine.ingest(batch)
    n += 3
    print("ack", result.last_seq, flush=True)  # acknowledged: ingest returned
"""


def test_sigkill_loses_no_acknowledged_event(engine_files: tuple[Path, Path]) -> None:
    db, model = engine_files
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(model)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    timer = threading.Timer(120, proc.kill)  # never hang the suite
    timer.start()
    acked, n_acks = 0, 0
    try:
        assert proc.stdout.readline().strip() == "ready"
        for line in proc.stdout:
            acked, n_acks = int(line.split()[1]), n_acks + 1
            if n_acks >= 150:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        timer.cancel()
    assert proc.returncode == -signal.SIGKILL and n_acks == 150
    engine = Engine.open(db, model)
    try:
        assert engine.store.events.last_seq() >= acked
        logged = list(engine.store.events.read_events(after=0))
        seqs = {e.seq for e in logged}
        assert set(range(1, acked + 1)) <= seqs
        # The state replayed from the log holds the acknowledged events too.
        crash_users = [engine.store.users.index(f"crash{u}") for u in range(7)]
        assert all(engine.user_vector(f"crash{u}") is not None for u in range(7))
        assert sum(engine._state(u).last_seq >= 1 for u in crash_users) == 7
        result = engine.ingest([Interaction(user_id="crash0", item_id="c0-1")])
        assert result.accepted == 1
    finally:
        engine.close()
