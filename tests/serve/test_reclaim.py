"""The server gives a finished stream's memory back: cyclic garbage is collected by its reclaim pass."""

from __future__ import annotations

import gc
import threading
import time
import weakref

from ttsint_serve.app import reclaim_memory


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_reclaim_memory_frees_cyclic_garbage_made_after_the_voices_loaded() -> None:
    loaded, stop, freed = threading.Event(), threading.Event(), threading.Event()
    was_enabled = gc.isenabled()
    gc.disable()  # no automatic pass: only reclaim_memory can free the cycle
    frozen_before = gc.get_freeze_count()
    thread = threading.Thread(target=reclaim_memory, args=(loaded, stop, 0.02), daemon=True)
    try:
        thread.start()
        loaded.set()
        deadline = time.monotonic() + 10
        while gc.get_freeze_count() <= frozen_before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gc.get_freeze_count() > frozen_before, "what was alive when the voices loaded is frozen"
        node = Node()
        weakref.finalize(node, freed.set)
        del node
        assert freed.wait(10), "the cycle made after loading was not collected"
    finally:
        stop.set()
        thread.join(10)
        gc.unfreeze()
        if was_enabled:
            gc.enable()
    assert not thread.is_alive()
