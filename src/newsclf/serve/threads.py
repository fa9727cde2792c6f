"""How the model's threads wait between operations while serving (docs/performance.md,
"Serving at the model's speed").

PyTorch's CPU kernels run on OpenMP threads. By default an OpenMP thread that finishes its
part of an operation spins, burning its core until the next operation, so that it starts
without a wake-up. A server is not alone on its cores: the event loop parses requests and
writes answers, the clients may run on the same machine, and other processes share it. Every
spin takes a slice from them, and an operation waits for its slowest thread, so a thread that
lost its core to a spinner delays all of them. On a busy 2-core machine the spinning cost
several times the model's own CPU time per text (the figures are in docs/performance.md).

`sleep_between_operations` asks OpenMP for that passive wait. OpenMP reads the setting once,
when torch loads, so it is set before the model is loaded, and only where the environment
does not already choose (`OMP_WAIT_POLICY=ACTIVE newsclf serve ...` keeps the spinning).
"""

from __future__ import annotations

import os
import sys

WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
SERVING_POLICY = "PASSIVE"


def sleep_between_operations() -> str:
    """Set OMP_WAIT_POLICY=PASSIVE unless the environment sets it; the policy in effect.

    Once torch is loaded its OpenMP runtime has read the environment already: then nothing
    is changed, and the answer says so."""
    if "torch" in sys.modules:
        chosen = os.environ.get(WAIT_POLICY_ENV)
        return f"{chosen or 'the OpenMP default'} (torch was loaded before the server started)"
    os.environ.setdefault(WAIT_POLICY_ENV, SERVING_POLICY)
    return os.environ[WAIT_POLICY_ENV]
