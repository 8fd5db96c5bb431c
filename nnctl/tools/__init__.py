"""Tools built on the engine: gradient checks, explain, prediction, export and plots."""
