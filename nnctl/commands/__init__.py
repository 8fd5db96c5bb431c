"""One module per command or family of commands: parse the options, make one library call,
render the result. Registered on the Typer app by `nnctl.cli`."""
