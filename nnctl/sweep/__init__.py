"""`nnctl sweep`: hyperparameter search over a config's `sweep:` section (docs/commands/sweep.md).

A run is a pure function of (config, data, seed, fold) → a result row (`runner`). `plan` decides
everything before the first run and makes points lazily (`space`; Optuna's ask-and-tell for tpe);
`drive` moves runs through a `backends.Backend` (a pool of local processes, or Ray tasks) and asks
the ASHA scheduler (`asha`) whether a run at a rung goes on; `scoring` keeps each point's score;
`results` alone writes and reads trials.csv (and holds the folder's lock); `best` writes best.yaml
and best.npz; `search` runs it all from start to end. Only the parent writes results.
"""
