"""A Ctrl-C that reaches the command line by a side way still ends with one line and 130: one
that Typer catches outside a command's guard (while options are parsed), and one that an import
wraps in another error (a class body's `__set_name__` turns it into a RuntimeError)."""

from __future__ import annotations

import pytest
import typer

from nnctl import cli, signals
from nnctl.commands import common
from nnctl.errors import ExitStatus


def _convert(value: str) -> str:
    raise KeyboardInterrupt


def test_a_ctrl_c_while_options_are_parsed_is_one_line_and_130(monkeypatch, capsys):
    monkeypatch.setattr(common, "_reported", [False])

    @cli.app.command("boom")
    def boom(x: str = typer.Argument(..., callback=_convert)) -> None:
        """Never reached: the argument's callback is where the Ctrl-C lands."""

    try:
        with pytest.raises(SystemExit) as exit_:
            signals.run_main(lambda: cli.run(["boom", "1"]))
    finally:
        cli.app.registered_commands.pop()
    assert exit_.value.code == ExitStatus.INTERRUPTED
    assert capsys.readouterr().err == "error: interrupted (Ctrl-C)\n"


@pytest.mark.parametrize("signal_exc, code, words", [
    (KeyboardInterrupt(), ExitStatus.INTERRUPTED, "interrupted (Ctrl-C)"),
    (signals.Terminated(), ExitStatus.TERMINATED, "terminated (SIGTERM)"),
])
def test_a_signal_wrapped_in_another_error_is_that_signal(monkeypatch, capsys, signal_exc, code, words):
    monkeypatch.setattr(common, "_reported", [False])
    with pytest.raises(typer.Exit) as exit_, common.guard(False):
        try:
            raise signal_exc
        except BaseException as exc:
            raise RuntimeError("Error calling __set_name__ on 'x' instance 'locs' in 'Formatter'") from exc
    assert exit_.value.exit_code == code
    err = capsys.readouterr().err
    assert words in err and "internal error" not in err and len(err.strip().splitlines()) == 1
    assert common.signal_reported()
