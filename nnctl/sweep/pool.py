"""The local backend: a pool of worker processes that survives its workers.

Each worker is a fresh interpreter (spawn) started with BLAS limited to one thread, given the
sweep's shared data once, then fed one task at a time over its own pipe. The parent waits on
every pipe and every worker's exit at once: a worker that dies (a signal, the kernel's
out-of-memory killer, an exit) turns its task into an `error` row naming the signal or code and
is replaced, and the other workers carry on. Workers ignore Ctrl-C and SIGTERM: the parent
decides, and stops them when the sweep stops.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import types
from collections import deque
from multiprocessing.connection import wait

from .runner import Shared, Task, run

ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}


def _worker(conn) -> None:  # pragma: no cover - runs in the child process
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import tempfile
    from pathlib import Path

    from .. import train  # noqa: F401 - loaded while the parent still plans the sweep

    plugin_dir = Path(tempfile.mkdtemp(prefix="nnctl-plugins-"))
    try:
        shared = conn.recv()  # once per worker: the base config and the data every run shares
    except EOFError:
        return
    if shared is None:
        return
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send(run(task, shared, plugin_dir))


def death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (the kernel's out-of-memory killer sends it too)" if -code == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{hint}"
    return f"the worker process exited with code {code}"


class LocalPool:
    """Workers start at once (their interpreters load while the parent plans the sweep); `share`
    then gives each the sweep's shared part, once."""

    name = "local"

    def __init__(self, workers: int):
        self.size, self.shared = workers, None
        self.ctx = mp.get_context("spawn")
        self.idle: list = []
        self.busy: dict = {}  # worker → (conn, task)
        self.queue: deque[Task] = deque()
        self.done: deque[dict] = deque()
        self.procs: list = []
        self.idle = [self._start() for _ in range(workers)]

    def share(self, shared: Shared) -> None:
        self.shared = shared
        for _proc, conn in self.idle:
            try:
                conn.send(shared)
            except OSError:  # it died already: dispatch replaces it
                pass

    def _start(self):
        saved = {k: os.environ.get(k) for k in ONE_THREAD}
        os.environ.update(ONE_THREAD)  # read by BLAS when the child loads NumPy
        try:
            parent, child = self.ctx.Pipe()
            proc = self.ctx.Process(target=_worker, args=(child,), daemon=True)
            main = sys.modules["__main__"]
            # spawn re-imports the parent's main module in the child (here the command line, Typer
            # and Rich: ~0.3 s a worker); the worker needs only this module, so it is given none
            sys.modules["__main__"] = types.ModuleType("__main__")
            try:
                proc.start()
            finally:
                sys.modules["__main__"] = main
            if self.shared is not None:  # a worker started in place of one that died
                parent.send(self.shared)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        self.procs.append(proc)
        return proc, parent

    def submit(self, task: Task) -> None:
        self.queue.append(task)

    def _dispatch(self) -> None:
        while self.queue and (self.idle or len(self.busy) < self.size):
            proc, conn = self.idle.pop() if self.idle else self._start()
            task = self.queue[0]
            try:
                if not proc.is_alive():
                    raise BrokenPipeError
                conn.send(task)
            except (BrokenPipeError, OSError):  # it died while idle: nothing was lost, start another
                conn.close()
                proc.join(timeout=5)
                continue
            self.queue.popleft()
            self.busy[proc] = (conn, task)

    def next_result(self) -> dict:
        """The next finished run's row (a dead worker's task as an error row)."""
        while not self.done:
            self._dispatch()
            if not self.busy:
                raise RuntimeError("no run in progress")
            by_conn = {conn: proc for proc, (conn, _) in self.busy.items()}
            by_sentinel = {proc.sentinel: proc for proc in self.busy}
            for ready in wait([*by_conn, *by_sentinel]):
                proc = by_conn.get(ready) or by_sentinel.get(ready)
                if proc not in self.busy:
                    continue
                conn, task = self.busy[proc]
                if ready is conn:
                    try:
                        self.done.append(conn.recv())
                        del self.busy[proc]
                        self.idle.append((proc, conn))
                        continue
                    except (EOFError, OSError):
                        pass
                proc.join(timeout=5)
                del self.busy[proc]
                conn.close()
                self.done.append({"trial": task.trial, "repeat": task.repeat, "seed": task.seed, "status": "error",
                                  "params": dict(task.params), "metrics": {}, "epochs": None, "seconds": None,
                                  "message": death(proc.exitcode)})
        return self.done.popleft()

    def pending(self) -> int:
        return len(self.queue) + len(self.busy) + len(self.done)

    def close(self, kill: bool = False) -> None:
        for _proc, conn in self.idle:
            try:
                conn.send(None)
            except OSError:
                pass
        for proc in self.procs:
            if kill and proc.is_alive():
                proc.kill()
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
