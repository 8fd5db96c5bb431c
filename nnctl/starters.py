"""Commented starter configs for `nnctl init`. Each one runs as it is."""

from __future__ import annotations

_TRAIN = """\
train:
  loss: {loss}                  # mse | bce | cross_entropy (must fit the output activation)
  optimizer: {optimizer}
  #   sgd:     {{name: sgd, lr: 0.5, momentum: 0.0, nesterov: false}}
  #   adam:    {{name: adam, lr: 0.001, betas: [0.9, 0.999], eps: 1.0e-8}}
  #   rmsprop: {{name: rmsprop, lr: 0.01, alpha: 0.99, eps: 1.0e-8}}
  weight_decay: 0.0           # L2 on weights (not biases)
  epochs: {epochs}
  batch_size: {batch}             # an integer, or `full` for full-batch gradient descent
  shuffle: true               # reshuffle the training rows every epoch
  dtype: float64              # float64 | float32
  log_every: {log_every}              # a table row every N epochs (and the first and last)
  # schedule: {{name: cosine, t_max: {epochs}, min_lr: 0.0, warmup: 0}}   # or step, exponential, plateau
  # early_stopping: {{monitor: val_loss, patience: 10, min_delta: 1.0e-4, restore_best: true}}
output: {output}                # the model file, relative to the current folder
"""

COMMENT_COLUMN = 30


def _aligned(text: str) -> str:
    """Every trailing comment of a short line starts at COMMENT_COLUMN, whatever the value's
    length (the values are filled in per starter); longer lines keep theirs."""
    out = []
    for line in text.splitlines():
        code, sep, comment = line.partition(" # ")
        if sep and code.strip() and not code.lstrip().startswith("#") and len(code.rstrip()) < COMMENT_COLUMN - 1:
            line = f"{code.rstrip():<{COMMENT_COLUMN}}# {comment}"
        out.append(line)
    return "\n".join(out) + "\n"


STARTERS = {
    "xor": """\
# XOR: the smallest problem a network without a hidden layer cannot learn.
# Run it:  nnctl train xor.yaml        Check backprop:  nnctl gradcheck xor.yaml
seed: 0                       # all randomness (init, shuffling, splits, data) derives from it
data:
  source: xor                 # xor | line | circles | moons | gauss | spiral | csv | parquet
  standardize: true           # scale inputs by the training rows' mean and std
model:
  layers:                     # hidden layers first, the output layer last
    - {units: 4, activation: tanh}      # identity | sigmoid | tanh | relu | leaky_relu
    - {units: 1, activation: sigmoid}   # bce needs one sigmoid output unit
  init: xavier                # xavier | he | normal | uniform | zeros
""" + _TRAIN.format(loss="bce", optimizer="{name: sgd, lr: 0.1, momentum: 0.9}", epochs=2000, batch="full",
                    log_every=250, output="xor.npz"),
    "line": """\
# A noisy line, y = 2x + 3 + N(0, 1), fitted by one linear unit: its weight is the slope and its
# bias the intercept (inputs are left unscaled so they read that way).
# Run it:  nnctl train line.yaml && nnctl info line.npz
seed: 0
data:
  source: line
  n: 2000                     # points
  slope: 2.0
  intercept: 3.0
  noise: 1.0                  # standard deviation of the noise
  x_range: [-1.0, 1.0]        # x is drawn uniformly from this range
  standardize: false
model:
  layers:
    - {units: 1, activation: identity}
""" + _TRAIN.format(loss="mse", optimizer="{name: sgd, lr: 0.1}", epochs=500, batch="full", log_every=100,
                    output="line.npz"),
    "csv": """\
# A classifier on your own CSV file: a header row, one column per feature, one for the label.
# Edit path and target, then: nnctl train this.yaml   (nnctl config this.yaml shows every default)
seed: 0
data:
  source: csv
  path: data.csv              # relative to this file's folder
  target: label               # the column to predict (class labels: text or integers)
  # features: [a, b, c]       # default: every other column
  # delimiter: ","
  # stream: true              # a file larger than memory: read in chunks every epoch (docs/data.md)
  validation_split: 0.2       # held out after a seeded shuffle, reported as val_loss
  standardize: true
model:
  layers:
    - {units: 16, activation: relu, init: he}
    - {units: auto, activation: softmax}   # auto: one softmax unit per class in the data
""" + _TRAIN.format(loss="cross_entropy", optimizer="{name: adam, lr: 0.001}", epochs=200, batch=32,
                    log_every=20, output="model.npz"),
}
STARTERS = {name: _aligned(text) for name, text in STARTERS.items()}


def sweep_section(kind: str) -> str:
    """A commented example sweep: section for `nnctl init --sweep` (nnctl sweep reads it; train ignores it)."""
    metric = "val_loss" if kind == "csv" else "loss"
    return f"""\
sweep:                        # nnctl sweep this.yaml: every point, on every core
  method: grid                # grid | random | tpe (tpe needs: pip install 'nnctl[tune]')
  trials: 20                  # random and tpe: how many points; grid: every combination
  repeats: 1                  # runs per point, seeds seed, seed+1, …; a point's score is their mean
  metric: {metric:<19}# a final metric: loss, val_loss, accuracy, val_f1, …
  # mode: min                 # default: min for loss, val_loss, rmse, mae; else max
  parameters:                 # dotted config keys, as --set takes them
    train.optimizer.lr: {{values: [0.01, 0.1, 0.5]}}
    model.layers.0.units: {{values: [4, 8]}}
    # train.optimizer.lr: {{log_uniform: [1.0e-4, 1.0e-1]}}     # random / tpe: ranges
    # train.batch_size: {{int_uniform: [16, 128]}}             # both ends included
"""


def for_file(text: str, kind: str, name: str) -> str:
    """The starter's own commands ("Run it: nnctl train line.yaml") naming the file it is written to."""
    return text.replace(f" {kind}.yaml", f" {name}").replace(" this.yaml", f" {name}")
