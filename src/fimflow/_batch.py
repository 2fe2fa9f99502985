"""Many local optimisations advancing together: their model evaluations batched into one call.

Each start runs its own (unchanged, serial) optimiser in a thread. Whenever it needs the
model it submits its point and waits; once every running start is waiting, the points go
through one vectorised (`jax.vmap`) compiled evaluation of fixed width, and every start
resumes with its own result. One compiled solve thus advances `width` starts at once, which
on a CPU costs little more than advancing one: the solver's per-step overhead is shared.

Starts are assigned to lanes in start order, and a lane whose start finishes takes the next
waiting start, so the batches (and therefore the results) do not depend on thread timing.
"""

import threading
from collections.abc import Callable, Sequence

import numpy as np


class _Stopped(Exception):
    """Raised in a start's thread when the batch runner shuts down after an error."""


class BatchRunner:
    """Run `work(start, evaluate)` for every start, `width` at a time, batching `evaluate`.

    **Arguments:**
    - `evaluate_batch`: maps points `(width, n)` to a tuple of arrays with leading axis
      `width` (e.g. residuals and Jacobians); called from one thread at a time.
    - `width`: number of lanes (the compiled batch size).

    `run(work, starts)` calls `work(i, evaluate)` for each start `i` (an index into `starts`)
    where `evaluate(x)` returns that lane's slice of `evaluate_batch`; it returns the list of
    `work`'s return values in start order. An exception in `work` is that start's return value
    (the caller records it as a failed start); the other starts continue.
    """

    def __init__(self, evaluate_batch: Callable, width: int):
        if width < 1:
            raise ValueError(f"`width` must be >= 1, got {width}.")
        self.evaluate_batch = evaluate_batch
        self.width = width
        self.n_batches = 0

    def run(self, work: Callable, starts: Sequence) -> list:
        n = len(starts)
        results: list = [None] * n
        lock = threading.Condition()
        lanes: list[int | None] = [None] * self.width  # start index running in each lane
        requests: dict[int, np.ndarray] = {}  # lane -> point waiting for evaluation
        answers: dict[int, tuple] = {}  # lane -> its slice of the last batch
        state = {"next": 0, "error": None, "round": 0}

        def evaluate_in(lane):
            def evaluate(x):
                with lock:
                    if state["error"] is not None:
                        raise _Stopped()
                    requests[lane] = np.asarray(x, dtype=np.float64)
                    my_round = state["round"]
                    _maybe_run_batch()
                    while state["round"] == my_round and state["error"] is None:
                        lock.wait()
                    if state["error"] is not None:
                        raise _Stopped()
                    return answers.pop(lane)

            return evaluate

        def _maybe_run_batch():
            # called with the lock held: evaluate once every busy lane has a request
            busy = [k for k in range(self.width) if lanes[k] is not None]
            if not busy or any(k not in requests for k in busy):
                return
            padding = requests[busy[0]]  # idle lanes repeat a busy one's point: no extra solver steps
            batch = np.stack([requests.get(k, padding) for k in range(self.width)])
            try:
                out = self.evaluate_batch(batch)
            except BaseException as error:  # a bug, not a failed solve: stop every start
                state["error"] = error
                lock.notify_all()
                return
            out = tuple(np.asarray(a) for a in out)
            self.n_batches += 1
            for k in busy:
                answers[k] = tuple(a[k] for a in out)
            requests.clear()
            state["round"] += 1
            lock.notify_all()

        def lane_thread(lane, i):
            try:
                results[i] = work(i, evaluate_in(lane))
            except _Stopped:
                pass
            except Exception as error:  # noqa: BLE001 - recorded as that start's outcome
                results[i] = error
            with lock:
                lanes[lane] = None
                _assign(lane)
                _maybe_run_batch()
                lock.notify_all()

        threads: list[threading.Thread] = []

        def _assign(lane):
            # called with the lock held: the next waiting start goes into the free lane
            if state["next"] < n and state["error"] is None:
                i = state["next"]
                state["next"] += 1
                lanes[lane] = i
                thread = threading.Thread(target=lane_thread, args=(lane, i), daemon=True)
                threads.append(thread)
                thread.start()

        with lock:
            for lane in range(self.width):
                _assign(lane)
        while True:
            with lock:
                if all(lane is None for lane in lanes) or state["error"] is not None:
                    break
                lock.wait(timeout=1.0)
        for thread in list(threads):
            thread.join()
        if state["error"] is not None:
            raise state["error"]
        return results
