"""A replica is stopped the way a rolling deploy stops it: SIGTERM, then SIGKILL after a grace period."""
from __future__ import annotations

import time

from tests.scale.clients import eventually
from tests.scale.conftest import READY_SECONDS

# Kubernetes sends SIGKILL 30 s after SIGTERM by default; replies still being sent are lost then.
# An idle replica must be gone well before, leaving room for replies in flight (up to 30 s in app.py).
GRACE_SECONDS = 20


async def test_a_replica_that_served_web_patients_stops_soon_after_sigterm(scale_cluster, tabs):
    """After serving a web patient who then went away without closing the connection (a lost
    network), a replica stops within GRACE_SECONDS of SIGTERM. Runs last: it leaves the replica
    stopped (a later test's `cluster` fixture would start it again)."""
    replica = scale_cluster.b
    if not replica.alive:
        replica.start()
    replica.wait_ready(READY_SECONDS)
    tab = await tabs.connect(replica.url, label="patient who loses the network")
    await tab.close()
    sent = replica.terminate()
    await eventually(lambda: not replica.alive, GRACE_SECONDS + 1, "the replica exiting after SIGTERM")
    assert time.monotonic() - sent < GRACE_SECONDS
