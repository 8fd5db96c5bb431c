"""The sweep's parts against hand-worked cases: trials.csv read back cell by cell, ASHA's
decisions, stratified folds."""

from __future__ import annotations

import numpy as np

from nnctl.sweep.asha import ASHA
from nnctl.sweep.folds import assign
from nnctl.sweep.results import Layout, format_row, read_rows


def _layout(**kw):
    base = dict(keys=["lr"], metric_columns=["loss"], repeats=2, folds=None, base_seed=5, seed_swept=False,
                value_ok=lambda k, v: v in (0.1, 0.2))
    return Layout(**{**base, **kw})


def _row(trial, repeat, status="ok", lr=0.1, loss=0.5):
    return {"trial": trial, "repeat": repeat, "fold": None, "seed": 5 + repeat, "status": status, "params": {"lr": lr},
            "metrics": {"loss": loss}, "epochs": 3, "seconds": 0.25, "message": "a, \"quoted\"\nmessage"}


def test_rows_written_read_back_equal_and_a_cut_row_is_dropped():
    lay = _layout()
    text = "trial,repeat,seed,status,lr,epochs,seconds,loss,message\n"
    text += format_row(_row(0, 0), lay) + format_row(_row(0, 1, loss=0.25), lay)
    rows, dropped = read_rows(text, lay)
    assert dropped == 0 and rows[(0, 1, 0)]["metrics"] == {"loss": 0.25}
    assert rows[(0, 0, 0)]["message"] == 'a, "quoted" message'
    cut = text + format_row(_row(1, 0), lay)[:-9]  # a full disk: no newline, a number cut short
    rows, dropped = read_rows(cut, lay)
    assert dropped == 1 and set(rows) == {(0, 0, 0), (0, 1, 0)}


def test_every_cell_is_checked_and_a_later_row_replaces_an_earlier_one():
    lay = _layout()
    header = "trial,repeat,seed,status,lr,epochs,seconds,loss,message\n"
    bad = ["0,2,7,ok,0.1,3,0.2,0.5,\n",  # repeat beyond repeats
           "0,0,9,ok,0.1,3,0.2,0.5,\n",  # seed is not seed + repeat
           "0,0,5,fine,0.1,3,0.2,0.5,\n",  # unknown status
           "0,0,5,ok,0.3,3,0.2,0.5,\n",  # a value outside the space
           "0,0,5,ok,0.1,3,0.2,0.5\n",  # a cell missing
           "0,0,5,ok,0.1,3,0.2,abc,\n",  # not a number
           "0,0,5,ok,0.1,,0.2,,\n"]  # an ok run without its numbers
    rows, dropped = read_rows(header + "".join(bad), lay)
    assert rows == {} and dropped == len(bad)
    twice = header + "0,0,5,error,0.1,,,,worker died\n" + "0,0,5,ok,0.1,3,0.2,0.5,\n"
    rows, dropped = read_rows(twice, lay)
    assert len(rows) == 1 and rows[(0, 0, 0)]["status"] == "ok"


def test_asha_keeps_the_top_third_at_each_rung_and_ties_go_on():
    s = ASHA(min_epochs=1, reduction=3, epochs=27, mode="min")
    assert s.rungs == [1, 3, 9]
    assert s.decide(1, 0.5) == 3  # the first run at a rung goes on: it is the top 1 of 1
    assert s.decide(1, 0.7) is None  # 2 runs: ceil(2/3) = 1 goes on, and 0.7 is second
    assert s.decide(1, 0.4) == 3  # best of 3
    assert s.decide(1, 0.5) == 3  # 4 runs: ceil(4/3) = 2 go on; 0.5 ties the second
    assert s.decide(9, 0.1) == 27  # the last rung sends a run to train.epochs
    top = ASHA(2, 2, 8, "max")
    assert top.rungs == [2, 4] and top.decide(2, 0.9) == 4 and top.decide(2, 0.8) is None
    assert top.decide(2, float("nan")) is None  # a missing metric is the worst


def test_folds_partition_the_rows_and_keep_each_class_in_proportion():
    labels = np.repeat([0, 1, 2], [50, 30, 7])
    fold_of = assign(labels, len(labels), 5, seed=3)
    assert set(fold_of) == set(range(5))
    sizes = np.bincount(fold_of)
    assert sizes.max() - sizes.min() <= 1
    for c in range(3):
        per = np.bincount(fold_of[labels == c], minlength=5)
        assert per.max() - per.min() <= 1, (c, per)
    assert (assign(labels, len(labels), 5, seed=3) == fold_of).all()
    assert (assign(labels, len(labels), 5, seed=4) != fold_of).any()
    plain = assign(None, 11, 3, seed=0)
    assert sorted(np.bincount(plain)) == [3, 4, 4]


def test_points_are_counted_without_being_made_and_values_are_checked_against_their_space():
    from nnctl.config.schema import SweepConfig
    from nnctl.sweep import space

    sw = SweepConfig.model_validate({"parameters": {"a": {"values": list(range(100))},
                                                    "b": {"values": list(range(1000))}}})
    assert space.count(sw, 20) == 100_000
    first = space.points(sw, 0, 20)
    assert next(first) == {"a": 0, "b": 0} and next(first) == {"a": 0, "b": 1}
    section = {"method": "random", "parameters": {"n": {"int_uniform": [2, 5]}}}
    spec = SweepConfig.model_validate(section).parameters["n"]
    assert space.contains(spec, 2) and space.contains(spec, 5)
    assert not space.contains(spec, 6) and not space.contains(spec, 2.5) and not space.contains(spec, True)
