"""The Ray backend: each run is a Ray task of one CPU.

The driver reads the data once and puts it in Ray's object store (`ray.put`): tasks receive it
by reference, so workers need neither the CSV file nor the config's folder (plugin activations
travel as source text). Without --address (and without RAY_ADDRESS in the environment, which
Ray itself reads), a local Ray with `workers` CPUs is started on the loopback interface and shut
down at the end; with one, an existing cluster is joined.

A driver that dies leaves no run behind: Ray ends a job's tasks when its driver disconnects, and
a task on the driver's own machine also watches the driver's pid and exits the moment it is gone.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse

from nnctl import signals
from nnctl.errors import UsageError
from nnctl.sweep.backends.local import ONE_THREAD
from nnctl.sweep.runner import Shared, Task, run


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--backend ray needs Ray, an optional extra: pip install 'nnctl[ray]'") from None
    return ray


def _machine() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return socket.gethostname()


def _ray_task(shared: Shared, task: Task, driver: tuple[str, int]) -> dict:  # pragma: no cover - a Ray worker
    done = threading.Event()
    if driver[0] == _machine():
        threading.Thread(target=_watch, args=(driver[1], done), daemon=True).start()
    try:
        return run(task, shared)
    finally:
        done.set()


def _watch(pid: int, done: threading.Event) -> None:  # pragma: no cover - a Ray worker
    """End this worker (and its run) as soon as the sweep's driver process is gone."""
    while not done.wait(0.5):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass


def address_from(address: str | None) -> tuple[str | None, str]:
    """The cluster to join and how the user named it: --address, else RAY_ADDRESS (as Ray reads it)."""
    if address:
        return address, f"--address {address}"
    env = os.environ.get("RAY_ADDRESS", "").strip()
    return (env, f"RAY_ADDRESS={env}") if env else (None, "")


def check_address(address: str, named: str | None = None, timeout: float = 5.0) -> None:
    """Fail fast, naming the address, when nothing listens there (Ray itself retries for minutes)."""
    named = named or f"--address {address}"
    if address in ("auto", "local"):
        return
    target = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        host, port = target.hostname, target.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise UsageError(f"{named}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise UsageError(f"{named}: no Ray cluster answers there ({exc.strerror or exc})") from None


class RayBackend:
    name = "ray"

    def __init__(self, workers: int, shared: Shared, address: str | None = None):
        ray = self.ray = _import_ray()
        self.size = workers
        env = {"env_vars": dict(ONE_THREAD)}  # each task's BLAS on one thread, like a local worker
        address, named = address_from(address)
        try:
            if address:
                check_address(address, named)
                try:
                    with signals.foreign():  # Ray's SIGTERM handler exits 15: nnctl's signal instead
                        ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level="ERROR")
                except (ConnectionError, RuntimeError, ValueError) as exc:
                    raise UsageError(f"{named}: cannot join the Ray cluster ({str(exc).splitlines()[0]})") from None
            else:
                os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
                # "local": a new Ray of its own, never a cluster some other `ray start` left running here
                with signals.foreign():  # Ray's SIGTERM handler exits 15: nnctl's signal instead
                    ray.init(address="local", num_cpus=workers, include_dashboard=False, runtime_env=env,
                             log_to_driver=False, logging_level="ERROR", _node_ip_address="127.0.0.1")
        finally:
            signals.reclaim()  # ray.init installs its own handlers
        self.remote = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        self.shared_ref = ray.put(shared)
        self.driver = (_machine(), os.getpid())
        self.futures: dict = {}

    def submit(self, task: Task) -> None:
        self.futures[self.remote.remote(self.shared_ref, task, self.driver)] = task

    def next_result(self) -> dict:
        ref = self._wait()
        task = self.futures.pop(ref)
        try:
            return {**self.ray.get(ref), "task": task}
        except Exception as exc:  # a worker that died, or a node Ray lost: run() itself never raises
            return {**task.row("error", f"the Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"),
                    "task": task, "lost": True}

    def _wait(self):
        """The next finished task's reference. Ray's wait is compiled code that a Python exception
        raised inside it (a signal handler's) would garble, so Ctrl-C and SIGTERM only set a flag
        while it runs, in short waits, and are raised here, between two of them."""
        from nnctl.signals import Terminated, stop_requests

        flag, ready = [False], []
        with stop_requests(flag) as stop:
            while not flag[0] and not ready:
                ready, _ = self.ray.wait(list(self.futures), num_returns=1, timeout=0.2)
        if flag[0]:  # a signal during the wait that found a result stops the sweep all the same
            raise Terminated if stop.exit_status == 143 else KeyboardInterrupt
        return ready[0]

    def close(self, kill: bool = False) -> None:
        if kill:
            for ref in self.futures:
                try:
                    self.ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or gone
                    pass
        self.ray.shutdown()  # leaves a joined cluster running; stops the one started here
