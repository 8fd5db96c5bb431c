"""The console script's entry (and `python -m nnctl`): nnctl's signal handlers are installed
before Typer, NumPy or any command is imported, so that Ctrl-C or SIGTERM at any moment ends
with one line and exit 130 / 143 (see nnctl.signals)."""

import sys

from nnctl import signals

signals.install()


def main() -> None:
    def run() -> int:
        from nnctl.cli import run as run_cli

        return run_cli(sys.argv[1:])

    signals.run_main(run)


if __name__ == "__main__":
    main()
