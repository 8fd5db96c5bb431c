"""The pages `nnctl report` and `nnctl explain --format html` write: one self-contained HTML file
each (plotly's bundle, the styles and the script inline; nothing fetched), the numbers they draw
embedded as JSON in `<script type="application/json" id="nnctl-report">` (docs/report.md).

plotly is an optional extra (`pip install 'nnctl[report]'`); only html.py imports it.
"""
