"""`nnctl sweep`: hyperparameter search over a config's `sweep:` section.

A run is a pure function of (config, data, seed) → a result row (`runner`); the search produces
points and consumes scores (`space`, and Optuna's ask-and-tell for tpe); the executor only moves
them: a pool of local processes (`backends.local`) or Ray tasks (`backends.ray_tasks`). Only the parent writes
results (`results`: trials.csv as runs finish, best.yaml, best.npz).
"""
