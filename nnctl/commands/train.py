"""`nnctl train`: parse the options, run the library's training, report it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnctl import signals
from nnctl.commands.common import DebugOpt, JsonOpt, QuietOpt, SetOpt, guard, overrides
from nnctl.errors import UsageError, WriteError
from nnctl.plugins import config_plugins


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
        import time

        from nnctl import render as report
        from nnctl.config.loader import load_config
        from nnctl.io import modelfile
        from nnctl.training import callbacks, checkpoint
        from nnctl.training import trainer as trainmod

        cfg = load_config(config, overrides(set_, seed, epochs))
        out_path = out or cfg.output or f"{config.stem}.npz"
        cfg.output = out_path
        for path in (out_path, metrics_csv):
            if path is not None:
                modelfile.check_writable(path)
        ckpt_path = checkpoint.path_for(out_path)
        init = modelfile.load(init_from, plugin_files=config_plugins(cfg)).model if init_from else None
        trainer = trainmod.setup(cfg)
        if init is not None:
            try:
                trainmod.copy_weights(init, trainer.model)
            except ValueError as exc:
                raise UsageError(f"does not fit the config: {exc}", source=f"--init-from {init_from}") from None
        if resume is not None:
            checkpoint.restore(resume, trainer)
        if not json_ and not quiet:
            _warn_unreachable(trainer)
        reporter = report.TrainReporter(trainer.metric_names, cfg.train.epochs, trainer.is_logged,
                                        trainer.prepared.split.X_val is not None, quiet or json_,
                                        start_epoch=trainer.epoch)
        csv_log = callbacks.MetricsCSV(metrics_csv, trainer) if metrics_csv else None
        on_epoch = callbacks.chain(callbacks.Checkpointer(trainer, ckpt_path, checkpoint_every), csv_log, reporter)
        resume_cmd = _resume_command(config, set_, seed, epochs, out, ckpt_path)
        t0 = time.perf_counter()
        reporter.start()
        stop = signals.stop_requests(trainer.stop_flag)
        try:
            with stop:
                trainer.fit(on_epoch)
        except trainmod.Interrupted as exc:
            reporter.stop()
            checkpoint.save(ckpt_path, trainer)
            report.error(f"interrupted ({stop.name}) during epoch {exc.epoch}; {out_path} was not changed; "
                         f"checkpoint written: resume with {resume_cmd}")
            raise typer.Exit(stop.exit_status) from None
        finally:
            reporter.stop()
            if csv_log is not None:
                csv_log.close()
        result = trainmod.TrainResult(trainer.model, trainer.prepared, trainer.history,
                                      time.perf_counter() - t0, trainer)
        try:
            trainmod.save_result(out_path, cfg, result)
        except WriteError as exc:
            raise WriteError(f"{exc.message}; {_keep_finished_run(checkpoint, ckpt_path, trainer, resume_cmd)}",
                             source=exc.source) from None
        last, stopper = result.final, trainer.stopper
        ties = _at_threshold(result)
        stopped = stopper.stopped_epoch if stopper else None
        best = stopper.best_epoch if stopper else None
        if json_:
            report.emit_json({
                "model": out_path, "epochs": trainer.epoch, "loss": last.loss, "metrics": dict(last.metrics),
                "val_loss": last.val_loss, "val_metrics": last.val_metrics, "seconds": result.seconds,
                "seed": cfg.seed, "parameters": trainer.model.n_parameters,
                "stopped_epoch": stopped, "best_epoch": best, "update": trainer.step_engine,
                "at_threshold": ties,
            })
        else:
            if stopped:
                restored = " restored its weights" if stopper.restore_best else ""
                reporter.note(f"early stopping at epoch {stopped}: {trainer.monitor} has not improved by "
                              f"{stopper.min_delta:g} for {stopper.patience} epochs; best epoch {best}{restored}")
            shown = ", ".join(f"{k} {report.fmt(v, 4)}" for k, v in last.metrics.items())
            val = f"; val_loss {report.fmt(last.val_loss)}" if last.val_loss is not None else ""
            reporter.note(f"trained {trainer.epoch} epochs in {result.seconds:.2f} s: loss "
                          f"{report.fmt(last.loss)}{', ' + shown if shown else ''}{val} → {out_path}")
            from nnctl.core.metrics import threshold_note

            note = threshold_note(ties or 0, result.prepared.split.X_train.shape[0])
            if note:
                reporter.note(note)


def _warn_unreachable(trainer) -> None:
    from nnctl.core.activations import unreachable_targets
    from nnctl.render import stderr

    why = unreachable_targets(trainer.model.activations[-1].name, trainer.prepared.split.Y_train)
    if why:
        stderr.print(f"warning: model.layers.{len(trainer.model.W) - 1}: {why}", markup=False, highlight=False,
                     soft_wrap=True)


def _at_threshold(result) -> int | None:
    """The training rows whose prediction sits at the decision threshold (None for a regression)."""
    from nnctl.core.metrics import at_threshold

    p = result.prepared
    if not (p.classifier or p.binary):
        return None
    return at_threshold(result.model.predict(p.split.X_train))


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


def _keep_finished_run(checkpoint, ckpt_path, trainer, resume_cmd: str) -> str:
    """After the model file could not be written: keep the finished run as a checkpoint, from
    which --resume saves it again without training; say what happened."""
    try:
        checkpoint.save(ckpt_path, trainer)
    except WriteError as exc:
        return f"the finished run could not be kept either ({exc.message})"
    return (f"the finished run is kept in {ckpt_path}: once there is room, save it without training "
            f"again with {resume_cmd} (add --out to write elsewhere)")
