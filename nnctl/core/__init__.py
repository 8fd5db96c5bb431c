"""The readable engine: activations, losses, the MLP (forward and backward), optimizers,
learning-rate schedules and metrics. A learner reads these files alone; the fast paths live in
`nnctl.engine` and are tested equal to these."""
