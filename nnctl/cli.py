"""The command line: the Typer app. It registers one function per command (each in
`nnctl.commands`, a thin shell: parse the options, make one library call, render the result) and
turns click's own usage errors into `error: …` and exit 2. The only module, with
`nnctl.commands`, that imports typer. Heavy modules (NumPy and the engine) are imported inside
the commands, so `--help` stays fast.
"""

from __future__ import annotations

import os
import sys

import typer

from nnctl import signals
from nnctl.commands import common, config, export, gradcheck, info, plot, predict, report, sweep, train
from nnctl.errors import ExitStatus

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: rendering it with Rich would double `nnctl --help`'s start-up
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Train multilayer perceptrons written in plain NumPy, driven by YAML configs.\n\n"
         "Example: nnctl train configs/xor.yaml && nnctl predict xor.npz datasets/xor.csv",
)

COMMANDS = [
    (train.train, None), (predict.predict, None), (predict.evaluate, None), (info.info, None),
    (gradcheck.gradcheck, None), (gradcheck.explain, None), (plot.plot, None), (config.init, None),
    (config.show_config, "config"), (config.schema, None), (sweep.sweep, None), (export.export, None),
    (report.report, None), (config.completion, None),
]
for _func, _name in COMMANDS:
    app.command(_name)(_func)


def main() -> None:
    """The console script: click's own usage errors become `error: …` and exit 2 as well;
    Ctrl-C and SIGTERM end any command, at any moment, with one line and exit 130 / 143."""
    signals.install()
    signals.run_main(lambda: run(sys.argv[1:]))


def run(args: list[str]) -> int:
    """The app on these arguments; returns the exit code."""
    try:  # newer typer vendors click as typer._click; older ones use click itself
        from typer._click import exceptions as click
    except ImportError:  # pragma: no cover
        from click import exceptions as click

    abort = getattr(click, "Abort", None) or typer.Abort
    if os.environ.get(config.COMPLETE_VAR):  # the shell asks for completions: only then load the classes
        config.completion_classes()
    try:
        code = app(args=gradcheck.bare_elements(args), prog_name="nnctl", standalone_mode=False)
    except click.UsageError as exc:
        from nnctl import render as report

        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
        report.error(exc.format_message() + hint)
        code = int(ExitStatus.BAD_INPUT)
    except abort:
        code = int(ExitStatus.INTERRUPTED)
    except click.ClickException as exc:
        from nnctl import render as report

        report.error(exc.format_message())
        code = exc.exit_code
    if code == ExitStatus.INTERRUPTED and not common.signal_reported():
        # Typer turns a Ctrl-C outside a command's guard (parsing, importing) into a silent
        # exit 130; give it the one line every other Ctrl-C gets.
        raise KeyboardInterrupt
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    main()
