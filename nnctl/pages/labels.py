"""The words of a page's frame (headings, table headers, axis titles, controls), per language:
a small table beside nnctl.i18n's gettext catalog, which explain's sections use. Text that comes
from the data (column names, class labels, config values) is never translated."""

from __future__ import annotations

EN = {
    "model": "Model", "sweep": "Sweep", "explain": "One training step",
    "summary": "Summary", "config": "Config", "final_metrics": "Final metrics", "metric": "metric",
    "value": "value", "curves": "Loss per epoch", "epoch": "epoch", "loss": "loss", "val_loss": "val_loss",
    "other_columns": "Other history columns", "column": "column", "weights": "Weights",
    "heatmap": "W{i}: {rows} inputs × {cols} units", "first_shown": "(first {rows}×{cols})",
    "units": "unit", "more": "(+{n} more)",
    "on_data": "On {file} ({rows} rows)", "confusion": "Confusion matrix (rows: true, columns: predicted)",
    "true": "true", "predicted": "predicted", "per_class": "Per-class metrics", "class": "class",
    "precision": "precision", "recall": "recall", "f1": "f1", "support": "rows",
    "boundary": "Decision boundary over the rows", "no_history": "This model file keeps no history.",
    "layers": "layers", "parameters": "parameters", "features": "features", "targets": "targets",
    "classes": "classes", "loss_fn": "loss",
    "leaderboard": "Leaderboard (click a header to sort)", "rank": "rank", "trial": "trial", "score": "score",
    "spread": "spread", "runs": "runs", "status": "status", "parallel": "Parameters and score, one line per run",
    "score_vs": "Score against each parameter", "learning": "Learning curves of the best points",
    "sweep_summary": "{runs} runs of {points} points; metric {metric} ({mode})", "repeat": "repeat",
    "no_runs": "No run has finished with a score yet.", "failed": "Runs that did not end ok",
    "message": "message", "unread": "rows of trials.csv left out, unreadable (cut short?): {n}",
    "step": "Step", "step_of": "step {i} of {n}", "previous": "previous", "next": "next",
    "loss_per_row": "Loss per row", "row": "row", "loss_per_step": "Loss per step",
}

ZH = {
    "model": "模型", "sweep": "超参数搜索", "explain": "一步训练",
    "summary": "概要", "config": "配置", "final_metrics": "最终指标", "metric": "指标",
    "value": "值", "curves": "每轮损失", "epoch": "轮次", "loss": "训练损失", "val_loss": "验证损失",
    "other_columns": "其他历史列", "column": "列", "weights": "权重",
    "heatmap": "W{i}：{rows} 个输入 × {cols} 个单元", "first_shown": "（前 {rows}×{cols}）",
    "units": "单元", "more": "（另有 {n} 个）",
    "on_data": "在 {file} 上（{rows} 行）", "confusion": "混淆矩阵（行：真实，列：预测）",
    "true": "真实", "predicted": "预测", "per_class": "各类别指标", "class": "类别",
    "precision": "精确率", "recall": "召回率", "f1": "F1", "support": "行数",
    "boundary": "数据上的决策边界", "no_history": "此模型文件没有训练历史。",
    "layers": "层", "parameters": "参数", "features": "特征", "targets": "目标",
    "classes": "类别", "loss_fn": "损失函数",
    "leaderboard": "排行榜（点击表头排序）", "rank": "名次", "trial": "试验", "score": "得分",
    "spread": "离散度", "runs": "运行", "status": "状态", "parallel": "参数与得分（每次运行一条线）",
    "score_vs": "得分与各参数", "learning": "最佳点的学习曲线",
    "sweep_summary": "{points} 个点共 {runs} 次运行；指标 {metric}（{mode}）", "repeat": "重复",
    "no_runs": "还没有带得分的运行。", "failed": "未成功结束的运行", "message": "信息",
    "unread": "trials.csv 中无法读取（可能被截断）而略去的行：{n}",
    "step": "步骤", "step_of": "第 {i} 步，共 {n} 步", "previous": "上一步", "next": "下一步",
    "loss_per_row": "每行损失", "row": "行", "loss_per_step": "每步损失",
}

LANGUAGES = {"en": EN, "zh": ZH}


def labels(lang: str | None = None) -> dict[str, str]:
    """The label table of the language nnctl.i18n resolves (--lang, else LC_ALL/LC_MESSAGES/LANG);
    an unknown one is a usage error listing the known ones."""
    from nnctl.i18n import language

    return LANGUAGES[language(lang)]
