"""The one owner of SIGINT and SIGTERM.

`install()` runs first thing in the console script, before Typer, NumPy or any command is
imported: from then on Ctrl-C raises KeyboardInterrupt and SIGTERM raises `Terminated`, and the
command line turns either into one message and exit 130 / 143 wherever the process is (parsing
arguments, loading data, writing a file). Before `install()` runs, SIGTERM's default action ends
the process, which a shell also reports as 143.

`stop_requests(flag)` switches both signals, for the length of a training, to "stop between two
batches" (the trainer reads the flag), so that a consistent checkpoint can be written; a second
signal stops at once. `reclaim()` reinstalls nnctl's handlers after a library that installs its
own (Ray does, in `ray.init`); `foreign()` wraps calls into such a library.
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager


class Terminated(BaseException):  # noqa: N818 - a signal, like KeyboardInterrupt
    """SIGTERM, raised where the process is, so that files being written are cleaned up."""


# The signals received under nnctl's handlers. A library may swallow the exception a handler
# raises (pyarrow's lazy import of pandas does: a SIGTERM then vanished and a sweep ran to its
# end), so the places that wait for long (a pool's wait, a training's stop flag) ask again.
_received: list[int] = []


def _on_signal(signum, frame):
    _received.append(signum)
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def raise_pending() -> None:
    """Raise again a signal already received, in case a library swallowed its exception."""
    if _received:
        raise Terminated if _received[-1] == signal.SIGTERM else KeyboardInterrupt


def pending() -> int | None:
    """The last signal received under nnctl's handlers, if any."""
    return _received[-1] if _received else None


def install() -> None:
    """nnctl's handlers: SIGINT → KeyboardInterrupt, SIGTERM → Terminated."""
    try:
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)
    except ValueError:  # not the main thread (a library caller's worker thread): leave them be
        pass


reclaim = install


@contextmanager
def foreign(reclaim_after: bool = False):
    """Around a call into a library that handles signals its own way (Ray): a signal received
    there still ends as nnctl's KeyboardInterrupt or Terminated. Ray's driver handler turns
    SIGTERM into `sys.exit(15)`, and an exception raised by a handler inside a C extension's call
    comes back as a SystemError whose context is that exception. With `reclaim_after`, nnctl's
    handlers are reinstalled when the call ends (`ray.init` installs Ray's)."""
    try:
        yield
    except SystemExit as exc:
        if exc.code == signal.SIGTERM:
            raise Terminated from None
        raise
    except SystemError as exc:
        if isinstance(exc.__context__, KeyboardInterrupt | Terminated):
            raise exc.__context__ from None
        raise
    finally:
        if reclaim_after:
            install()


def raised_within(exc: BaseException) -> BaseException | None:
    """The KeyboardInterrupt or Terminated that `exc` wraps, if any: a signal raised inside an
    import can come back as another error (a class body's `__set_name__` failing turns it into a
    RuntimeError whose cause is the signal, as importing matplotlib does)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt | Terminated):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def exit_status(signum: int | None) -> int:
    """The shell's status for a process ended by this signal: 143 for SIGTERM, else 130."""
    from nnctl.errors import ExitStatus

    return int(ExitStatus.TERMINATED if signum == signal.SIGTERM else ExitStatus.INTERRUPTED)


def describe(signum: int | None) -> str:
    return "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"


class stop_requests:  # noqa: N801 - used as a context manager, like contextlib's
    """Ctrl-C and SIGTERM (what Slurm, Kubernetes, systemd and `timeout` send) set `flag[0]`
    instead of raising, so that the trainer stops between two batches; a second signal raises at
    once. `signum` is the signal received (None if none). The handlers before are restored on
    exit."""

    def __init__(self, flag: list[bool]):
        self.flag, self.signum, self.previous = flag, None, {}

    def _handler(self, signum, frame):
        if self.flag[0]:
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        self.signum = signum
        self.flag[0] = True

    @property
    def name(self) -> str:
        return describe(self.signum)

    @property
    def exit_status(self) -> int:
        return exit_status(self.signum)

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: leave the signals as they are
                pass
        if self.previous and pending() is not None:  # received already, its exception swallowed
            self.signum, self.flag[0] = pending(), True
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def run_main(run) -> None:
    """Run the command line (`run()` returns its exit code) and exit; a Ctrl-C or SIGTERM that
    arrives outside a command's own guard (while arguments are parsed, modules imported, the
    process winds down) is one line and 130 / 143, never a traceback."""
    import sys

    try:
        code = run()
    except (KeyboardInterrupt, Terminated) as exc:
        term = isinstance(exc, Terminated)
        try:
            print(f"error: {'terminated (SIGTERM)' if term else 'interrupted (Ctrl-C)'}", file=sys.stderr)
        except (OSError, ValueError):
            pass
        code = exit_status(signal.SIGTERM if term else signal.SIGINT)
    sys.exit(code)


class Wakeup:
    """A socket that turns readable when a signal arrives, for a main thread that waits on file
    descriptors (a process pool's pipes). The kernel may deliver a process's SIGTERM to any of its
    threads (OpenBLAS keeps a few in every process that loaded NumPy); Python then runs the handler
    only when the main thread next runs bytecode, which a wait on pipes alone can postpone until a
    run ends. Waiting on this socket too ends the wait at once, and the handler raises as usual."""

    def __init__(self):
        import socket

        self.reader, self._writer = socket.socketpair()
        self.reader.setblocking(False)
        self._writer.setblocking(False)
        try:
            self._previous = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        except ValueError:  # not the main thread: signals reach it anyway
            self._previous = None

    def drain(self) -> None:
        try:
            while self.reader.recv(512):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        if self._previous is not None:
            signal.set_wakeup_fd(self._previous)
            self._previous = None
        self.reader.close()
        self._writer.close()


def keep_from_pyarrow() -> None:
    """pyarrow swaps in C handlers of its own for SIGINT and SIGTERM around each read (to cancel
    it), and a signal arriving in that window or after never reached nnctl's handler: a sweep
    reading its CSV through pyarrow ran on to the end after SIGTERM. nnctl owns the signals, so
    pyarrow is told to leave them alone (its reads are short: chunks of a few MB)."""
    import pyarrow

    pyarrow.enable_signal_handlers(False)


PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; elsewhere nothing), and
    exit now if the parent is already gone."""
    if sys.platform != "linux":
        return
    import ctypes
    import os

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


def as_worker(parent: int) -> None:
    """A worker process's signals: Ctrl-C and SIGTERM are ignored (the parent decides, and stops
    its workers), and the kernel ends it if the parent dies."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
