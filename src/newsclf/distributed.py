"""Running as several processes under `accelerate launch` (or torchrun): the rules every
command follows there, in one place.

Several processes on a machine without CUDA share the work over gloo on the CPU; Accelerate
must be told so, or each process would silently do all the work alone. Training, sharded
scoring and the CLI ask this module; none decides alone.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accelerate import PartialState


def launched() -> bool:
    """True when a launcher (`accelerate launch`, torchrun) started several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def cpu_processes() -> bool:
    """Several processes launched on a machine without CUDA: they must use the CPU (gloo)."""
    import torch

    return launched() and not torch.cuda.is_available()


def process_state() -> PartialState:
    """This process's place under `accelerate launch` (one process otherwise)."""
    from accelerate import PartialState

    return PartialState(cpu=cpu_processes())


def process_device() -> str | None:
    """The device this process works on: its own under a launcher (one GPU each), else None
    (the caller's default)."""
    return str(process_state().device) if launched() else None


def is_main_process() -> bool:
    """The process that writes files and prints (the only one without a launcher)."""
    return not launched() or process_state().is_main_process


def finish() -> None:
    """At the end of a launched command: wait for every process, then close the process group.
    A process that leaves while a peer still uses the group (the main one writing its output)
    can abort in gloo's teardown ("terminate called without an active exception")."""
    if launched():
        state = process_state()
        state.wait_for_everyone()
        state.destroy_process_group()


def main_process_value(value: str) -> str:
    """The main process's `value`, on every process (a run name each process chose from what
    it saw on disk: the main process's choice is the one that stands)."""
    if not launched():
        return value
    from accelerate.utils import broadcast_object_list

    process_state()  # the process group, before the broadcast
    return broadcast_object_list([value])[0]
