"""Many local optimisations advancing together: their model evaluations batched into one call.

Each start runs its own (unchanged, serial) optimiser in a thread. Whenever it needs the
model it submits its point and waits; once every running start of its *group* is waiting,
the group's points go through one vectorised (`jax.vmap`) compiled evaluation of fixed width,
and every start resumes with its own result. One compiled solve thus advances `width` starts,
which costs little more than advancing one: the solver's per-step overhead is shared.

Groups evaluate concurrently (XLA releases the GIL): on CPU one compiled solve keeps about
one core busy, so `groups` equal to the number of cores multiplies the throughput (measured
on 2 cores, Boehm_JProteomeRes2014: 143 lane evaluations/s with one group of 4, 301 with two).

Start `i` always runs in lane position `i % width` (of whichever group has that position
free first): a lane's numbers do not depend on its neighbours or its group, but they can
depend on its position in the batch at the last bit (XLA vectorises across the batch; seen for
width 2), so fixed positions keep results bitwise reproducible whatever the thread timing.

A batch lasts as long as its slowest lane's solve. Where one start's solves cost far more than
the others' (a start in a stiff region of parameter space: on Fujita_SciSignal2010 one start's
evaluation takes 2 s, another's 0.03 s), its batch-mates would wait for it at every round. So a
batch that takes `isolate` times its group's typical batch (the median of its last
`REFERENCE_BATCHES`) sends its lanes to be evaluated *alone* next time, in their own threads,
while the group goes on without them; a lane whose lone evaluation is typical again rejoins.
A lone evaluation is the same compiled program with every row set to the lane's point, read at
the lane's position, so it gives the lane bitwise the numbers a batch would: which lanes share
a batch is a matter of speed only, never of results.
"""

import collections
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

ISOLATE = 4.0
"""Default `isolate` of `BatchRunner`: a batch this many times slower than its group's typical
batch sends its lanes to be evaluated alone (see `bench/multistart.py` on Fujita_SciSignal2010:
the figures are in the README)."""

ISOLATE_MIN_S = 0.02
"""Excess time (seconds) below which a slow batch is not worth splitting: a lone evaluation costs
thread hand-offs and a separate call, and timing noise of this size is common."""

REFERENCE_BATCHES = 16
"""Recent batches of a group whose median time is its typical batch (none before `WARM_BATCHES`)."""

WARM_BATCHES = 3


class _Stopped(Exception):
    """Raised in a start's thread when the batch runner shuts down after an error."""


class _Group:
    """`width` lanes sharing one compiled evaluation; a batch waits for every busy lane."""

    def __init__(self, width: int):
        self.cond = threading.Condition()
        self.width = width
        self.busy: set[int] = set()  # lanes this group batches (not those evaluated alone)
        self.alone: set[int] = set()  # lanes to evaluate alone at their next evaluation
        self.requests: dict[int, np.ndarray] = {}
        self.answers: dict[int, tuple] = {}
        self.evaluating = False
        self.seconds: collections.deque = collections.deque(maxlen=REFERENCE_BATCHES)

    def take_batch(self):
        """With `cond` held: `(lanes, points)` to evaluate if every busy lane waits, else None."""
        if self.evaluating or not self.busy or any(k not in self.requests for k in self.busy):
            return None
        self.evaluating = True
        lanes = sorted(self.requests)
        padding = self.requests[lanes[0]]  # idle lanes repeat a busy one's point
        return lanes, np.stack([self.requests.get(k, padding) for k in range(self.width)])

    def typical(self) -> float | None:
        """With `cond` held: the median time of the recent batches, None before `WARM_BATCHES`."""
        return float(np.median(self.seconds)) if len(self.seconds) >= WARM_BATCHES else None


class BatchRunner:
    """Run `work(start, evaluate)` for every start, `width` lanes per group, batching `evaluate`.

    **Arguments:**
    - `evaluate_batch`: maps points `(width, n)` to a tuple of arrays with leading axis
      `width` (e.g. residuals and Jacobians), row by row (a row's result must not depend on the
      other rows); thread-safe (groups and lone lanes call it concurrently).
    - `width`: lanes per group (the compiled batch size).
    - `groups`: batches evaluated concurrently (one per CPU core to use).
    - `isolate`: a batch slower than this multiple of its group's typical batch sends its lanes
      to be evaluated alone until they are typical again (default `ISOLATE`); `None`: never.

    `run(work, starts)` calls `work(i, evaluate)` for each start `i` (an index into `starts`)
    where `evaluate(x)` returns that lane's slice of `evaluate_batch`; it returns the list of
    `work`'s return values in start order. An exception in `work` is that start's return value
    (the caller records it as a failed start); the other starts continue. An exception in
    `evaluate_batch` (a bug, not a failed solve) stops every start and is raised.
    `n_batches` and `n_alone` count the batched and the lone evaluations of the last run.
    """

    def __init__(self, evaluate_batch: Callable, width: int, groups: int = 1, isolate: float | None = ISOLATE):
        if width < 1:
            raise ValueError(f"`width` must be >= 1, got {width}.")
        if groups < 1:
            raise ValueError(f"`groups` must be >= 1, got {groups}.")
        if isolate is not None and not isolate >= 0:
            raise ValueError(f"`isolate` must be >= 0 or None, got {isolate}.")
        self.evaluate_batch = evaluate_batch
        self.width = width
        self.groups = groups
        self.isolate = isolate
        self.n_batches = 0
        self.n_alone = 0

    def _slow(self, seconds: float, typical: float | None) -> bool:
        return (self.isolate is not None and typical is not None
                and seconds > max(self.isolate * typical, typical + ISOLATE_MIN_S))

    def run(self, work: Callable, starts: Sequence) -> list:
        n = len(starts)
        results: list = [None] * n
        queue_lock = threading.Lock()
        state = {"error": None}
        groups = [_Group(self.width) for _ in range(self.groups)]
        queues = [list(range(position, n, self.width))[::-1] for position in range(self.width)]
        self.n_batches = self.n_alone = 0

        def next_start(position):
            with queue_lock:
                if not queues[position] or state["error"] is not None:
                    return None
                return queues[position].pop()

        def stop_all(error):
            with queue_lock:
                if state["error"] is None:
                    state["error"] = error
            for other in groups:
                with other.cond:
                    other.cond.notify_all()

        def run_batch(group, taken):
            """Evaluate outside the group's lock, then hand each lane of the batch its slice."""
            lanes, batch = taken
            tic = time.perf_counter()
            try:
                out = tuple(np.asarray(a) for a in self.evaluate_batch(batch))
            except BaseException as error:  # noqa: BLE001 - re-raised by `run`
                stop_all(error)
                return
            seconds = time.perf_counter() - tic
            with group.cond:
                with queue_lock:
                    self.n_batches += 1
                if len(lanes) > 1 and self._slow(seconds, group.typical()):
                    group.alone.update(lanes)  # which of them is slow shows when each runs alone
                group.seconds.append(seconds)
                for k in lanes:
                    group.answers[k] = tuple(a[k] for a in out)
                    del group.requests[k]
                group.evaluating = False
                group.cond.notify_all()

        def evaluate_alone(group, lane, x):
            """The lane's point in every row of the group's program, read at the lane's row."""
            tic = time.perf_counter()
            try:
                out = self.evaluate_batch(np.repeat(x[None, :], self.width, axis=0))
            except BaseException as error:  # noqa: BLE001 - re-raised by `run`
                stop_all(error)
                raise _Stopped() from error
            seconds = time.perf_counter() - tic
            with group.cond:
                with queue_lock:
                    self.n_alone += 1
                typical = group.typical()
                if typical is None or not self._slow(seconds, typical):
                    group.alone.discard(lane)  # typical again: back into the group's batches
            return tuple(np.asarray(a)[lane] for a in out)

        def evaluate_in(group, lane):
            def evaluate(x):
                x = np.asarray(x, dtype=np.float64)
                with group.cond:
                    if state["error"] is not None:
                        raise _Stopped()
                    alone = lane in group.alone
                    if alone:
                        group.busy.discard(lane)
                    else:
                        group.busy.add(lane)
                        group.requests[lane] = x
                    taken = group.take_batch()  # the others may all be waiting for this lane
                if taken is not None:
                    run_batch(group, taken)
                if alone:
                    return evaluate_alone(group, lane, x)
                with group.cond:
                    while lane not in group.answers and state["error"] is None:
                        group.cond.wait()
                    if state["error"] is not None:
                        raise _Stopped()
                    return group.answers.pop(lane)

            return evaluate

        def lane_thread(group, lane, i):
            evaluate = evaluate_in(group, lane)
            while i is not None:
                try:
                    results[i] = work(i, evaluate)
                except _Stopped:
                    return
                except Exception as error:  # noqa: BLE001 - recorded as that start's outcome
                    results[i] = error
                with group.cond:
                    group.alone.discard(lane)  # the next start begins in the group
                i = next_start(lane)
            with group.cond:
                group.busy.discard(lane)
                taken = group.take_batch()  # the others may all be waiting for this lane
            if taken is not None:
                run_batch(group, taken)

        threads = []
        for group in groups:
            for lane in range(self.width):
                i = next_start(lane)
                if i is None:
                    continue
                group.busy.add(lane)
                threads.append(threading.Thread(target=lane_thread, args=(group, lane, i), daemon=True))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if state["error"] is not None:
            raise state["error"]
        return results
