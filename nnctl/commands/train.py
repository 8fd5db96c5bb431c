"""`nnctl train`: parse the options, run the library's training, report it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnctl import signals
from nnctl.commands.common import DebugOpt, JsonOpt, QuietOpt, SetOpt, guard, overrides, signal_exit
from nnctl.errors import WriteError


def train(
    config: Annotated[Path, typer.Argument(help="The YAML config file.", show_default=False)],
    out: Annotated[str | None, typer.Option("--out", "-o", help="Model file to write (overrides output:).")] = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(help="Override seed.", min=0)] = None,
    epochs: Annotated[int | None, typer.Option(
        help="Override train.epochs: the total a run (or a resumed run) ends at.", min=1)] = None,
    init_from: Annotated[Path | None, typer.Option(
        "--init-from", help="Start from this model file's weights (shapes must match the config).")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(
        "--checkpoint-every", help="Write <model>.ckpt.npz every N epochs.", min=1)] = None,
    resume: Annotated[Path | None, typer.Option(
        "--resume", help="Continue from this checkpoint to the config's epochs.")] = None,
    metrics_csv: Annotated[Path | None, typer.Option(
        "--metrics-csv", help="Write one row per epoch: epoch, loss, val_loss, lr, metrics.")] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train the MLP a config describes, print a loss table, save the model file.

    Example: nnctl train configs/xor.yaml --set train.optimizer.lr=0.1 --out xor.npz

    Ctrl-C stops between two batches and writes a checkpoint beside the model file; continue
    with --resume. Exit codes: 0 trained, 1 diverged (non-finite loss or weight), 2 bad input,
    130 Ctrl-C.
    """
    with guard(debug):
        from nnctl import render as report
        from nnctl.config.loader import load_config
        from nnctl.training.run import Interrupted, UnsavedRun, run_training

        cfg = load_config(config, overrides(set_, seed, epochs))
        out_path = out or cfg.output or f"{config.stem}.npz"
        cfg.output = out_path
        progress = _Progress(quiet or json_)

        def resume_with(ckpt) -> str:
            return _resume_command(config, set_, seed, epochs, out, ckpt)

        stop = signals.stop_requests([False])
        try:
            result = run_training(cfg, out=out_path, init_from=init_from, resume=resume,
                                  checkpoint_every=checkpoint_every, metrics_csv=metrics_csv,
                                  on_start=progress.start, on_epoch=progress, stop=stop)
        except Interrupted as exc:
            progress.stop()
            signal_exit(f"interrupted ({stop.name}) during epoch {exc.epoch}; {out_path} was not changed; "
                        f"checkpoint written: resume with {resume_with(exc.checkpoint)}", stop.exit_status)
        except UnsavedRun as exc:
            if exc.checkpoint is None:
                raise
            hint = f"once there is room, save it without training again with {resume_with(exc.checkpoint)}"
            elsewhere = "(or give another --out)" if out else "(add --out to write elsewhere)"
            raise WriteError(f"{exc.message}: {hint} {elsewhere}", source=exc.source) from None
        finally:
            progress.stop()
        if json_:
            report.emit_json(_summary(cfg, out_path, result))
        else:
            _notes(progress.reporter, result, out_path)


class _Progress:
    """The loss table and progress bar, sized once the run's trainer is built (its metric
    columns, logged epochs and starting epoch are known only then)."""

    def __init__(self, quiet: bool):
        self.quiet, self.reporter = quiet, None
        self.active = not quiet

    def start(self, trainer) -> None:
        from nnctl import render as report

        self.reporter = report.TrainReporter(trainer.metric_names, trainer.cfg.train.epochs, trainer.is_logged,
                                             trainer.prepared.split.X_val is not None, self.quiet,
                                             start_epoch=trainer.epoch)
        if not self.quiet:
            _warn_unreachable(trainer)
        self.reporter.start()

    def __call__(self, record):
        return self.reporter(record)

    def stop(self) -> None:
        if self.reporter is not None:
            self.reporter.stop()


def _summary(cfg, out_path: str, result) -> dict:
    """`--json`'s document."""
    trainer, last = result.trainer, result.final
    stopper = trainer.stopper
    return {"model": out_path, "epochs": trainer.epoch, "loss": last.loss, "metrics": dict(last.metrics),
            "val_loss": last.val_loss, "val_metrics": last.val_metrics, "seconds": result.seconds,
            "seed": cfg.seed, "parameters": trainer.model.n_parameters,
            "stopped_epoch": stopper.stopped_epoch if stopper else None,
            "best_epoch": stopper.best_epoch if stopper else None, "update": trainer.step_engine,
            "at_threshold": _at_threshold(trainer)}


def _notes(reporter, result, out_path: str) -> None:
    """The lines under the loss table: early stopping, and what was trained."""
    from nnctl import render as report

    trainer, last, stopper = result.trainer, result.final, result.trainer.stopper
    if stopper is not None and stopper.stopped_epoch:
        restored = " restored its weights" if stopper.restore_best else ""
        reporter.note(f"early stopping at epoch {stopper.stopped_epoch}: {trainer.monitor} has not improved by "
                      f"{stopper.min_delta:g} for {stopper.patience} epochs; best epoch {stopper.best_epoch}"
                      f"{restored}")
    shown = ", ".join(f"{k} {report.fmt(v, 4)}" for k, v in last.metrics.items())
    val = f"; val_loss {report.fmt(last.val_loss)}" if last.val_loss is not None else ""
    reporter.note(f"trained {trainer.epoch} epochs in {result.seconds:.2f} s: loss "
                  f"{report.fmt(last.loss)}{', ' + shown if shown else ''}{val} → {out_path}")
    from nnctl.core.metrics import threshold_note

    note = threshold_note(_at_threshold(trainer) or 0, trainer.prepared.split.X_train.shape[0])
    if note:
        reporter.note(note)


def _warn_unreachable(trainer) -> None:
    """A warning when the targets lie outside what the output activation can produce."""
    from nnctl.core.activations import unreachable_targets
    from nnctl.render import stderr

    why = unreachable_targets(trainer.model.activations[-1].name, trainer.prepared.split.Y_train)
    if why:
        stderr.print(f"warning: model.layers.{len(trainer.model.W) - 1}: {why}", markup=False, highlight=False,
                     soft_wrap=True)


def _at_threshold(trainer) -> int | None:
    """The training rows whose prediction sits at the decision threshold (None for a regression)."""
    from nnctl.core.metrics import at_threshold

    p = trainer.prepared
    if not (p.classifier or p.binary):
        return None
    return at_threshold(trainer.model.predict(p.split.X_train))


def _resume_command(config: Path, set_, seed, epochs, out, ckpt_path) -> str:
    """The command that continues this run: the same config and flags, and --resume."""
    import shlex

    args = ["nnctl", "train", str(config)]
    for item in set_ or []:
        args += ["--set", item]
    if seed is not None:
        args += ["--seed", str(seed)]
    if epochs is not None:
        args += ["--epochs", str(epochs)]
    if out is not None:
        args += ["--out", str(out)]
    return shlex.join([*args, "--resume", str(ckpt_path)])
