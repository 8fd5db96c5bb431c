// nnctl's pages: draw the embedded figures, then wire the page's controls. Everything the page
// shows comes from the JSON blocks in this file; nothing is fetched.
(function () {
  "use strict";
  const read = (id) => JSON.parse(document.getElementById(id).textContent);
  const report = read("nnctl-report");
  const figures = read("nnctl-figures");
  const plotConfig = read("nnctl-plot-config");

  const drawn = [];
  document.querySelectorAll("div[data-figure]").forEach((div) => {
    const fig = figures[Number(div.dataset.figure)];
    drawn.push(Plotly.newPlot(div, fig.data, fig.layout, plotConfig));
  });

  // A model page: any history column in the second chart.
  const select = document.getElementById("history-column");
  if (select) {
    select.addEventListener("change", () => {
      const div = document.getElementById("history-chart");
      const col = select.value;
      Plotly.react(div, [{x: report.history.epoch, y: report.history[col],
                                 mode: report.history.epoch.length > 1 ? "lines" : "lines+markers", name: col}],
                   div.layout, plotConfig);
    });
  }

  // A sweep page: sort the leaderboard by the clicked column (numbers as numbers, empty last).
  const board = document.getElementById("leaderboard");
  if (board) {
    board.querySelectorAll("thead th").forEach((th, col) => {
      th.addEventListener("click", () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        board.querySelectorAll("thead th").forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const body = board.tBodies[0];
        const key = (tr) => {
          const cell = tr.cells[col];
          const text = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent;
          const num = Number(text);
          return text === "" ? null : (Number.isNaN(num) ? text : num);
        };
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          if (x === null || y === null) return (x === null) - (y === null);
          const order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : String(x).localeCompare(String(y));
          return ascending ? order : -order;
        });
        rows.forEach((tr) => body.appendChild(tr));
      });
    });
  }

  // An explain page: one step at a time.
  let first = null;
  const steps = Array.from(document.querySelectorAll("section.step"));
  const slider = document.getElementById("step");
  if (slider && steps.length) {
    const docs = report.steps || [report];
    const label = document.getElementById("step-label");
    const rowChart = document.getElementById("loss-per-row");
    const show = (i) => {
      i = Math.max(0, Math.min(steps.length - 1, i));
      slider.value = String(i);
      steps.forEach((s, j) => { s.hidden = j !== i; });
      label.textContent = label.dataset.template.replace("{i}", i + 1).replace("{n}", steps.length);
      document.body.dataset.step = String(i);
      if (rowChart) {
        const y = docs[i].loss_per_row;
        return Plotly.react(rowChart, [{type: "bar", x: y.map((_, r) => r), y: y}], rowChart.layout, plotConfig);
      }
    };
    slider.addEventListener("input", () => show(Number(slider.value)));
    document.getElementById("step-previous").addEventListener("click", () => show(Number(slider.value) - 1));
    document.getElementById("step-next").addEventListener("click", () => show(Number(slider.value) + 1));
    document.addEventListener("keydown", (e) => {
      if (e.target === slider) return;  // the slider moves itself on arrow keys
      if (e.key === "ArrowLeft") show(Number(slider.value) - 1);
      if (e.key === "ArrowRight") show(Number(slider.value) + 1);
    });
    first = () => show(0);
  }

  Promise.all(drawn)
    .then(() => first && first())
    .then(() => {
      // milliseconds from the start of navigation to the last chart drawn (benchmarks/report.py)
      document.body.dataset.renderedMs = String(Math.round(performance.now()));
      document.body.dataset.rendered = "true";
    });
})();
