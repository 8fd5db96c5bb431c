"""The command line: thin Typer wrappers around the library. The only module that imports typer.

Each command turns nnctl's own exceptions into one `error: …` line on stderr and the exit code
SPEC.md gives (2 bad input, 1 diverged or gradcheck mismatch, 130 Ctrl-C); a traceback only with
--debug. Heavy modules (numpy and the engine) are imported inside the commands, so `--help`
stays fast.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from nnctl.errors import ExitStatus, NnctlError, UsageError, WriteError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: rendering it with Rich would double `nnctl --help`'s start-up
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Train multilayer perceptrons written in plain NumPy, driven by YAML configs.\n\n"
         "Example: nnctl train configs/xor.yaml && nnctl predict xor.npz datasets/xor.csv",
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No table, progress or summary.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks on errors.")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE",
    help="Override a config key (dotted path, list indices allowed), e.g. train.optimizer.lr=0.1. Repeatable.")]
PluginOpt = Annotated[list[Path] | None, typer.Option(
    "--plugin", metavar="FILE.py",
    help="The file of a plugin activation the model names (loading it runs its code). Repeatable.")]


@contextmanager
def _guard(debug: bool):
    """Map every way a command can end onto one message and an exit code."""
    from nnctl import render as report

    try:
        yield
    except typer.Exit:
        raise
    except NnctlError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        report.error(str(exc))
        raise typer.Exit(int(exc.exit_status)) from None
    except KeyboardInterrupt:
        report.error("interrupted (Ctrl-C); no file was changed")
        raise typer.Exit(int(ExitStatus.INTERRUPTED)) from None
    except Terminated:
        report.error("terminated (SIGTERM); no file was changed")
        raise typer.Exit(int(ExitStatus.TERMINATED)) from None
    except MemoryError:
        if debug:
            raise
        report.error("not enough memory for this run (the data or the network is too large for this "
                     "machine); nothing was written")
        raise typer.Exit(int(ExitStatus.BAD_INPUT)) from None
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except Exception as exc:
        if debug:
            raise
        report.error(f"internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)")
        raise typer.Exit(int(ExitStatus.FAILED)) from None


def _overrides(set_: list[str] | None, seed: int | None = None, epochs: int | None = None) -> list[str]:
    out = list(set_ or [])
    if seed is not None:
        out.append(f"seed={seed}")
    if epochs is not None:
        out.append(f"train.epochs={epochs}")
    return out


@app.command()
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
    with _guard(debug):
        import time

        from nnctl import render as report
        from nnctl.config.loader import load_config
        from nnctl.io import modelfile
        from nnctl.training import callbacks, checkpoint
        from nnctl.training import trainer as trainmod

        cfg = load_config(config, _overrides(set_, seed, epochs))
        out_path = out or cfg.output or f"{config.stem}.npz"
        cfg.output = out_path
        for path in (out_path, metrics_csv):
            if path is not None:
                modelfile.check_writable(path)
        ckpt_path = checkpoint.path_for(out_path)
        init = modelfile.load(init_from, plugin_files=_config_plugins(cfg)).model if init_from else None
        trainer = trainmod.setup(cfg)
        if init is not None:
            try:
                trainmod.copy_weights(init, trainer.model)
            except ValueError as exc:
                raise UsageError(f"does not fit the config: {exc}", source=f"--init-from {init_from}") from None
        if resume is not None:
            checkpoint.restore(resume, trainer)
        reporter = report.TrainReporter(trainer.metric_names, cfg.train.epochs, trainer.is_logged,
                                        trainer.prepared.split.X_val is not None, quiet or json_,
                                        start_epoch=trainer.epoch)
        csv_log = callbacks.MetricsCSV(metrics_csv, trainer) if metrics_csv else None
        on_epoch = callbacks.chain(callbacks.Checkpointer(trainer, ckpt_path, checkpoint_every), csv_log, reporter)
        resume_cmd = _resume_command(config, set_, seed, epochs, out, ckpt_path)
        t0 = time.perf_counter()
        reporter.start()
        stop = _StopSignals(trainer.stop_flag)
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
        stopped = stopper.stopped_epoch if stopper else None
        best = stopper.best_epoch if stopper else None
        if json_:
            report.emit_json({
                "model": out_path, "epochs": trainer.epoch, "loss": last.loss, "metrics": dict(last.metrics),
                "val_loss": last.val_loss, "val_metrics": last.val_metrics, "seconds": result.seconds,
                "seed": cfg.seed, "parameters": trainer.model.n_parameters,
                "stopped_epoch": stopped, "best_epoch": best, "update": trainer.step_engine,
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


class _StopSignals:
    """Ctrl-C (SIGINT) and SIGTERM (what Slurm, Kubernetes, systemd and `timeout` send) ask the
    trainer to stop between two batches, so a consistent checkpoint can be written; a second
    signal stops at once. `exit_status` is the shell's: 130 for SIGINT, 143 for SIGTERM."""

    def __init__(self, flag: list[bool]):
        self.flag, self.signum, self.previous = flag, None, {}

    def _handler(self, signum, frame):
        if self.flag[0]:
            raise KeyboardInterrupt
        self.signum = signum
        self.flag[0] = True

    @property
    def name(self) -> str:
        import signal

        return "SIGTERM" if self.signum == signal.SIGTERM else "Ctrl-C"

    @property
    def exit_status(self) -> int:
        import signal

        return int(ExitStatus.TERMINATED if self.signum == signal.SIGTERM else ExitStatus.INTERRUPTED)

    def __enter__(self):
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: leave the signals as they are
                pass
        return self

    def __exit__(self, *exc):
        import signal

        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


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


def _float64_trainer(config: Path, overrides: list[str], model: Path | None):
    """The config's trainer in float64 (gradcheck, explain), at a model file's weights if given."""
    import numpy as np

    from nnctl.config.loader import load_config
    from nnctl.io import modelfile
    from nnctl.training import trainer as trainmod

    trainer = trainmod.setup(load_config(config, overrides + ["train.dtype=float64"]))
    if model is not None:
        mf = modelfile.load(model, plugin_files=_config_plugins(trainer.cfg))
        try:
            trainmod.copy_weights(mf.model.astype(np.float64), trainer.model)
        except ValueError as exc:
            raise UsageError(f"does not fit the config: {exc}", source=f"--model {model}") from None
    return trainer


def _config_plugins(cfg) -> list[Path]:
    from nnctl.plugins import plugin_file

    return [plugin_file(layer.activation["plugin"], cfg.base_dir)[0]
            for layer in cfg.model.layers if isinstance(layer.activation, dict)]


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(help="The model file (.npz).", show_default=False)],
    input: Annotated[str, typer.Argument(help="CSV with a header, or - for stdin.")] = "-",
    proba: Annotated[bool, typer.Option("--proba", help="Add a probability column p_<label> per class.")] = False,
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    no_header: Annotated[bool, typer.Option(
        "--no-header", help="The input has no header: take the first columns in the model's feature order.")] = False,
    output: Annotated[Path | None, typer.Option("--output", help="Write here instead of stdout.")] = None,
    plugin: PluginOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Predict for CSV rows; write one output row per input row, in order.

    Columns are matched to the model's features by name; other columns (the target, ids) are
    ignored. Classifiers write the class label, regressions the number.

    Example: nnctl predict iris.npz datasets/iris.csv --proba > predictions.csv
    """
    with _guard(debug):
        from nnctl.io import modelfile
        from nnctl.tools import predict as predmod

        if format not in ("csv", "json"):
            raise UsageError(f"--format: expected csv or json, got {format!r}")
        if output is not None:
            modelfile.check_writable(output)
        mf = modelfile.load(model, plugin_files=plugin)
        source = "stdin" if input == "-" else input
        with _open_input(input) as fh:
            def run(write):
                predmod.stream_predict(mf, fh, write, source, header=not no_header, proba=proba, fmt=format)

            if output is None:
                run(_write_stdout)
            else:  # the file appears, whole, only when every row succeeded
                modelfile.atomic_write(output, lambda out: run(lambda text: out.write(text.encode())))


def _write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()  # a reader on a pipe gets each chunk of answers as it is ready


@contextmanager
def _open_input(path: str):
    """A binary stream of a CSV file, or of stdin for '-'; DataError when it cannot be read."""
    from nnctl.errors import DataError

    if path == "-":
        yield getattr(sys.stdin, "buffer", sys.stdin)
        return
    p = Path(path)
    if p.is_dir():
        raise DataError("is a folder, expected a CSV file", source=path)
    try:
        fh = open(p, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise DataError("no such file", source=path) from None
    except OSError as exc:
        raise DataError(f"cannot read it: {exc.strerror}", source=path) from None
    with fh:
        yield fh


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="The model file (.npz).", show_default=False)],
    data: Annotated[str, typer.Argument(help="Labelled CSV (features and target columns), or -.",
                                        show_default=False)],
    plugin: PluginOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Loss and metrics of a saved model on labelled data.

    Example: nnctl evaluate iris.npz datasets/iris.csv --json
    """
    with _guard(debug):
        from nnctl import render as report
        from nnctl.data import csvtable as csvio
        from nnctl.io import modelfile
        from nnctl.tools import predict as predmod

        mf = modelfile.load(model, plugin_files=plugin)
        table = csvio.read_table(data, predmod.csv_delimiter(mf), source="stdin" if data == "-" else data)
        result = predmod.evaluate_table(mf, table)
        if json_:
            report.emit_json(result)
            return
        if quiet:
            return
        rows = [["loss", report.fmt(result["loss"])], ["rows", str(result["rows"])]]
        rows += [[k, report.fmt(v, 4)] for k, v in result["metrics"].items()]
        report.print_table(f"{model} on {data}", ["metric", "value"], rows)
        if "classes" not in result:
            return
        labels = [str(c) for c in result["classes"]]
        if len(labels) <= SHOWN_CLASSES:
            report.print_table("confusion matrix (rows: true, columns: predicted)", ["", *labels],
                               [[lab, *map(str, r)] for lab, r in zip(labels, result["confusion_matrix"],
                                                                       strict=True)])
        else:
            top = result["confusions"][:SHOWN_CLASSES]
            report.print_table(f"the {len(top)} most frequent confusions of {len(labels)} classes",
                               ["true", "predicted", "rows"],
                               [[str(c["true"]), str(c["predicted"]), str(c["count"])] for c in top])


SHOWN_CLASSES = 20  # evaluate's terminal view: a full confusion matrix up to this many classes


@app.command()
def info(
    model: Annotated[Path, typer.Argument(help="The model file (.npz).", show_default=False)],
    weights: Annotated[bool, typer.Option(
        "--weights", help="Show every W and b (rounded in the tables, full precision with --json).")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Architecture, parameter count, training config and final metrics of a model file.

    Plugin activations are named, never loaded. A one-feature model of one identity unit also
    states its line, y = w·x + b, in the data's own units. Example: nnctl info line.npz --weights
    """
    with _guard(debug):
        from nnctl import render as report
        from nnctl.io import modelfile

        meta, arrays = modelfile.inspect(model)
        layers = []
        fan_in = len(meta["features"])
        for i, layer in enumerate(meta["layers"]):
            layers.append({"index": i, "in": fan_in, "units": layer["units"], "activation": layer["activation"]})
            fan_in = layer["units"]
        n_params = sum(int(arrays[f"{k}{i}"].size) for i in range(len(layers)) for k in "Wb")
        doc = {"layers": layers, "parameters": n_params, "features": meta["features"],
               "targets": meta["targets"], "classes": meta.get("classes"), "loss": meta["loss"],
               "dtype": str(arrays["W0"].dtype), "standardized": "x_mean" in arrays,
               "epochs": meta.get("epochs"), "config": meta.get("config"), "metrics": meta.get("metrics")}
        line = modelfile.fitted_line(meta, arrays)
        if line is not None:
            doc["line"] = line
        if weights:
            doc["weights"] = {f"{k}{i}": arrays[f"{k}{i}"].tolist() for i in range(len(layers)) for k in "Wb"}
        if json_:
            report.emit_json(doc)
            return
        if quiet:
            return
        report.print_table(f"{model}", ["layer", "in", "units", "activation"],
                           [[str(la["index"]), str(la["in"]), str(la["units"]), str(la["activation"])]
                            for la in layers])
        pairs = [("parameters", str(n_params)), ("features", ", ".join(meta["features"])),
                 ("targets", ", ".join(meta["targets"])), ("loss function", meta["loss"]), ("dtype", doc["dtype"])]
        if doc["classes"]:
            pairs.append(("classes", ", ".join(map(str, doc["classes"]))))
        if doc["epochs"] is not None:
            pairs.append(("epochs trained", str(doc["epochs"])))
        if line is not None:
            pairs.append(("fitted line", f"{meta['targets'][0]} = {line['slope']:.6g}·{meta['features'][0]} "
                                         f"{'-' if line['intercept'] < 0 else '+'} {abs(line['intercept']):.6g}"
                                         + ("  (in the data's units: standardisation undone)"
                                            if doc["standardized"] else "")))
        report.print_kv("summary", pairs)
        if weights:
            for i in range(len(layers)):
                W, b = arrays[f"W{i}"], arrays[f"b{i}"]
                report.print_table(f"W{i} ({W.shape[0]}×{W.shape[1]}: rows are inputs, columns units) and b{i}",
                                   ["", *(f"unit {j}" for j in range(W.shape[1]))],
                                   [[f"W{i}[{r}]", *(report.fmt(float(v)) for v in row)] for r, row in enumerate(W)]
                                   + [[f"b{i}", *(report.fmt(float(v)) for v in b)]])
        if doc["metrics"]:
            report.print_table("final metrics", ["metric", "value"],
                               [[k, report.fmt(v)] for k, v in doc["metrics"].items()])
        if isinstance(doc["config"], dict):
            from nnctl.io.yamlio import dump_yaml

            report.print_text("training config", dump_yaml(doc["config"]))
        plugin = any(not isinstance(la["activation"], str) for la in layers)
        hints = [f"nnctl predict {model} rows.csv --proba", f"nnctl evaluate {model} labelled.csv",
                 f"nnctl plot {model}"] + ([] if plugin else [f"nnctl export {model}   (ONNX, for onnxruntime)"])
        print("next: " + "\n      ".join(hints), file=sys.stderr)


@app.command()
def gradcheck(
    config: Annotated[Path, typer.Argument(help="The YAML config file.", show_default=False)],
    model: Annotated[Path | None, typer.Option("--model", help="Check at this model file's weights.")] = None,
    eps: Annotated[float, typer.Option(help="Finite-difference step (> 0).", min=1e-300)] = 1e-6,
    tol: Annotated[float, typer.Option(help="Largest relative error that passes.", min=0.0)] = 1e-6,
    atol: Annotated[float, typer.Option(
        help="A tensor whose every element agrees within atol also passes (for gradients that are 0; "
             "0 turns this off).", min=0.0)] = 1e-10,
    samples: Annotated[int | None, typer.Option(
        help="Use the first N training rows (default: all, at most 100).", min=1)] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Judge every element, kinks included (by default an element whose ±eps "
                         "evaluations straddle a ReLU kink is counted as a kink, not a failure).")] = False,
    elements: Annotated[str | None, typer.Option(
        "--elements", metavar="N|all",
        help="Show analytic and numeric values per element, largest gap first: N per tensor "
             f"(a bare --elements shows {DEFAULT_ELEMENTS}), or all.")] = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Compare backprop's gradients with central finite differences, tensor by tensor, in float64.

    Exit 0 when every tensor's relative error is ≤ tol, 1 on any mismatch. Elements whose
    finite differences straddle a kink of relu, leaky_relu or a plugin's `kinks` are counted
    apart (--strict counts them).
    Example: nnctl gradcheck configs/xor.yaml --samples 4 --elements 5
    """
    with _guard(debug):
        from nnctl import render as report
        from nnctl.tools.gradcheck import check_gradients

        shown = _element_count(elements)
        trainer = _float64_trainer(config, _overrides(set_), model)
        cfg = trainer.cfg
        s = trainer.prepared.split
        n = min(samples or 100, s.X_train.shape[0])
        rep = check_gradients(trainer.model, s.X_train[:n], s.Y_train[:n], trainer.prepared.loss,
                              cfg.train.weight_decay, eps, tol, atol, strict, shown)
        if json_:
            report.emit_json(rep.as_dict())
        elif not quiet:
            report.print_gradcheck(rep, n)
        if not rep.passed:
            raise typer.Exit(int(ExitStatus.FAILED))


DEFAULT_ELEMENTS = 20  # gradcheck --elements without a number


def _element_count(text: str | None) -> int | None:
    """--elements N|all → N, -1 for all, None when not asked for."""
    if text is None:
        return None
    if text.strip().lower() == "all":
        return -1
    if text.strip().isdigit() and int(text) >= 1:
        return int(text)
    raise UsageError(f"--elements: expected a number ≥ 1 or all, got {text!r}")


@app.command()
def plot(
    models: Annotated[list[Path], typer.Argument(help="One model file (.npz), or several to compare.",
                                                 show_default=False, metavar="MODEL.npz...")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="PNG to write; default <model stem>.png (several models: "
                            "<first stem>-compare.png) in the current folder.")] = None,
    plugin: PluginOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Plot the training and validation loss curves, and the decision boundary (two-feature
    classifiers) or the fitted curve (one-feature regressions) over the training data; with
    train.diagnostics, weight and gradient norms and dead ReLU units. Several model files: their
    loss curves overlaid, labelled by file name.

    Needs the plot extra: pip install 'nnctl[plot]'. Example: nnctl plot a.npz b.npz --out ab.png
    """
    with _guard(debug):
        from nnctl.io import modelfile
        from nnctl.tools.plot import plot_compare, plot_model

        first = models[0]
        target = out or Path(f"{first.stem}.png" if len(models) == 1 else f"{first.stem}-compare.png")
        modelfile.check_writable(target)  # like every output file: in the current folder
        if len(models) > 1:
            panels = plot_compare([(m.name, modelfile.inspect(m)[0]) for m in models], target)
        else:
            panels = plot_model(modelfile.load(first, plugin_files=plugin), target)
        if not quiet:
            print(f"wrote {target} ({', '.join(panels)})", file=sys.stderr)


@app.command()
def init(
    kind: Annotated[str, typer.Argument(help="xor, line or csv.")] = "xor",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the config here instead of stdout.")] = None,
    with_sweep: Annotated[bool, typer.Option(
        "--sweep", help="Add a commented sweep: section for nnctl sweep.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file.")] = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write a commented starter config (to stdout without --out).

    Example: nnctl init csv --out my.yaml
    """
    with _guard(debug):
        from nnctl.io import modelfile
        from nnctl.starters import STARTERS, sweep_section

        if kind not in STARTERS:
            raise UsageError(f"unknown starter {kind!r}; expected one of {', '.join(STARTERS)}")
        text = STARTERS[kind] + (sweep_section(kind) if with_sweep else "")
        if out is None:
            sys.stdout.write(text)
            return
        if out.exists() and not force:
            raise UsageError("already exists; pass --force to overwrite it", source=str(out))
        modelfile.check_writable(out)
        modelfile.atomic_write(out, lambda fh: fh.write(text.encode()))
        if not quiet:
            print(f"wrote {out}: edit it, then run nnctl train {out}", file=sys.stderr)


@app.command("config")
def show_config(
    config: Annotated[Path, typer.Argument(help="The YAML config file.", show_default=False)],
    set_: SetOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Print the fully resolved config (every default filled in) as YAML.

    Example: nnctl config configs/xor.yaml --set train.optimizer=adam
    """
    with _guard(debug):
        from nnctl.config.loader import load_config
        from nnctl.io.yamlio import dump_yaml
        from nnctl.training.trainer import resolve_units

        cfg = resolve_units(load_config(config, _overrides(set_)))
        sys.stdout.write(dump_yaml(cfg.resolved()))


@app.command()
def schema(debug: DebugOpt = False) -> None:
    """Print the config's JSON Schema, for editors that complete and check YAML files.

    Example: nnctl schema > nnctl.config.schema.json
    """
    with _guard(debug):
        import json

        from nnctl.config.loader import json_schema

        sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


def _bare_elements(args: list[str]) -> list[str]:
    """`gradcheck --elements` with no number means the default count (click options always take
    their value, so the console script supplies it)."""
    out = []
    for i, a in enumerate(args):
        out.append(a)
        nxt = args[i + 1] if i + 1 < len(args) else None
        if a == "--elements" and not (nxt and (nxt.isdigit() or nxt.lower() == "all")):
            out.append(str(DEFAULT_ELEMENTS))
    return out


@app.command()
def sweep(
    config: Annotated[Path, typer.Argument(help="A YAML config with a sweep: section.", show_default=False)],
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Runs at once (default: the number of CPU cores).", min=1)] = None,
    backend: Annotated[str, typer.Option("--backend", help="local (a process pool) or ray.")] = "local",
    address: Annotated[str | None, typer.Option(
        "--address", help="ray: an existing cluster (auto, HOST:PORT or ray://HOST:PORT); "
                          "without it a local Ray is started.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="The results folder (default <config stem>-sweep/ in the current folder).")] = None,
    trials: Annotated[int | None, typer.Option(help="Override sweep.trials.", min=1)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the sweep in --out: runs already in trials.csv are not run again.")] = False,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Search hyperparameters: train every point of the config's sweep: section, on every core
    or on a Ray cluster, and keep the best.

    Writes <out>/trials.csv (a row per run, as it finishes), best.yaml (nnctl train best.yaml
    reproduces the best run) and best.npz. Exit 0 when a run ended ok, 1 when none did, 2 on bad
    input, 130 Ctrl-C and 143 SIGTERM (finished runs stay; --resume continues).
    Example: nnctl sweep configs/iris_sweep.yaml --workers 2
    """
    with _guard(debug):
        from nnctl import render as report
        from nnctl.sweep.search import run_sweep

        if backend not in ("local", "ray"):
            raise UsageError(f"--backend: expected local or ray, got {backend!r}")
        n = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        folder = out or Path(f"{config.stem}-sweep")
        progress = report.SweepProgress(quiet or json_)
        try:
            doc = run_sweep(config, _overrides(set_), folder, n, backend, address, trials, resume,
                            on_start=progress.start, on_row=progress.row)
        except (KeyboardInterrupt, Terminated) as exc:
            progress.stop()
            term = isinstance(exc, Terminated)
            report.error(f"{'terminated (SIGTERM)' if term else 'interrupted (Ctrl-C)'}: runs in progress were "
                         f"stopped; finished runs are in {folder / 'trials.csv'}; continue with "
                         f"nnctl sweep {config} --out {folder} --resume")
            raise typer.Exit(int(ExitStatus.TERMINATED if term else ExitStatus.INTERRUPTED)) from None
        progress.stop()
        plan, board = doc.pop("plan"), doc.pop("leaderboard")
        if json_:
            report.emit_json(doc)
        elif not quiet:
            report.print_leaderboard(plan, board, doc)
        if not any(r["status"] == "ok" for r in doc["runs"]):
            raise typer.Exit(int(ExitStatus.FAILED))


@app.command()
def export(
    model: Annotated[Path, typer.Argument(help="The model file (.npz).", show_default=False)],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="The ONNX file (default <model stem>.onnx in the current folder).")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset, 17 or later.")] = 17,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write the model as ONNX, for onnxruntime (C#, Java, JavaScript, C++, Python, a database).

    The graph takes `input` [N, n_features] in the model's dtype and feature order and gives a
    classifier's `label` and `probabilities`, or a regression's `prediction`, as nnctl predict
    --proba computes them. Needs the onnx extra: pip install 'nnctl[onnx]'.
    Example: nnctl export iris.npz --out iris.onnx
    """
    with _guard(debug):
        from nnctl.io import modelfile
        from nnctl.tools.export import check_exportable
        from nnctl.tools.export import export as write_onnx

        target = out or Path(f"{model.stem}.onnx")
        modelfile.check_writable(target)
        meta, _ = modelfile.inspect(model)  # the same checks as predict; a plugin is named, never run
        check_exportable(meta, str(model))
        write_onnx(modelfile.load(model), target, opset)
        if not quiet:
            print(f"wrote {target} (opset {opset}): inputs input[N, {len(meta['features'])}]", file=sys.stderr)


@app.command()
def explain(
    config: Annotated[Path, typer.Argument(help="The YAML config file.", show_default=False)],
    rows: Annotated[int, typer.Option(help="The first N training rows, as one batch.", min=1)] = 4,
    model: Annotated[Path | None, typer.Option("--model", help="Start from this model file's weights.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Every number of every matrix (default: 8×8 at most).")] = False,
    format: Annotated[str, typer.Option("--format", help="rich (the terminal) or markdown (stdout).")] = "rich",
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(help="Override seed.", min=0)] = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show one training step number by number: forward, loss, backprop beside central
    differences, and the optimizer's update, with the formula beside each quantity (float64).

    The numbers come from the engine's own forward, loss, backward and optimizer.
    Example: nnctl explain configs/xor_tutorial_mse.yaml --format markdown > step.md
    """
    with _guard(debug):
        from nnctl import render as report
        from nnctl.tools import explain as ex

        if format not in ("rich", "markdown"):
            raise UsageError(f"--format: expected rich or markdown, got {format!r}")
        trainer = _float64_trainer(config, _overrides(set_, seed), model)
        doc = ex.explain(trainer, rows)
        if json_:
            report.emit_json(ex.as_json(doc))
            return
        big = trainer.model.n_parameters > EXPLAIN_FULL_LIMIT and not full
        if big:
            print(f"{trainer.model.n_parameters} parameters: shapes and first rows only (--full shows all)",
                  file=sys.stderr)
        if format == "markdown":
            sys.stdout.write(ex.markdown(doc, full, big))
        else:
            ex.render(doc, full, big, report.stdout)


EXPLAIN_FULL_LIMIT = 10_000  # parameters above which explain shows shapes and first rows unless --full


SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_NNCTL_COMPLETE"


def _completion_classes():
    """Typer's completion classes for bash, zsh and fish, registered with Click's machinery."""
    from typer._completion_classes import completion_init

    try:
        from typer._click.shell_completion import get_completion_class
    except ImportError:  # pragma: no cover - a typer on plain click
        from click.shell_completion import get_completion_class
    completion_init()
    return get_completion_class


@app.command()
def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.", show_default=False)],
    debug: DebugOpt = False,
) -> None:
    """Print the shell completion script for nnctl (Click's completion machinery).

    Install it once, e.g. for bash:
    nnctl completion bash > ~/.local/share/bash-completion/completions/nnctl
    (zsh: > "${fpath[1]}/_nnctl"; fish: > ~/.config/fish/completions/nnctl.fish)
    """
    with _guard(debug):
        if shell not in SHELLS:
            raise UsageError(f"unknown shell {shell!r}; expected one of {', '.join(SHELLS)}")
        cls = _completion_classes()(shell)
        sys.stdout.write(cls(typer.main.get_command(app), {}, "nnctl", COMPLETE_VAR).source() + "\n")


class Terminated(BaseException):  # noqa: N818 - a signal, like KeyboardInterrupt
    """SIGTERM, raised where the process is, so that files being written are cleaned up."""


def _on_sigterm(signum, frame):
    raise Terminated


def main() -> None:
    """The console script: click's own usage errors become `error: …` and exit 2 as well;
    SIGTERM ends a command as Ctrl-C does (temporary files removed), with exit 143."""
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:  # newer typer vendors click as typer._click; older ones use click itself
        from typer._click import exceptions as click
    except ImportError:  # pragma: no cover
        from click import exceptions as click

    abort = getattr(click, "Abort", None) or typer.Abort
    if os.environ.get(COMPLETE_VAR):  # the shell asks for completions: only then load the classes
        _completion_classes()
    try:
        code = app(args=_bare_elements(sys.argv[1:]), prog_name="nnctl", standalone_mode=False)
    except click.UsageError as exc:
        from nnctl import render as report

        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
        report.error(exc.format_message() + hint)
        code = int(ExitStatus.BAD_INPUT)
    except abort:
        code = int(ExitStatus.INTERRUPTED)
    except click.ClickException as exc:
        from nnctl import render as report

        report.error(exc.format_message())
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
