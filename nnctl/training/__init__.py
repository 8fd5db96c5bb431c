"""Training: the Trainer (one epoch loop), its history, checkpoints and callbacks, and the
one call that runs a whole training (`run_training`)."""
