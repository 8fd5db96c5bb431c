"""The console script's entry (and `python -m nnctl`): nnctl's signal handlers are installed
before Typer, NumPy or any command is imported, so that Ctrl-C or SIGTERM at any moment ends
with one line and exit 130 / 143 (see nnctl.signals)."""

import sys

from nnctl import signals

signals.install()

DEPENDENCIES = {"typer", "rich", "numpy", "yaml", "pydantic"}  # pyproject's, by import name


def main() -> None:
    def run() -> int:
        try:
            from nnctl.cli import run as run_cli
        except ModuleNotFoundError as exc:  # a python without nnctl's dependencies: one line, not a traceback
            if exc.name not in DEPENDENCIES:
                raise
            print(f"error: nnctl needs {exc.name}, which this Python does not have: install nnctl with pip "
                  f"(pip install . from the project's folder) into the environment that runs it", file=sys.stderr)
            return 2
        _reserve_blas()
        return run_cli(sys.argv[1:])

    signals.run_main(run)


def _reserve_blas() -> None:
    """Under a cap on address space, OpenBLAS's buffers are taken before any data (engine/blas.py)."""
    from nnctl.data.parallel import address_space_capped

    if address_space_capped():
        from nnctl.engine import blas

        blas.reserve()


if __name__ == "__main__":
    main()
