// The manager SLA dashboard's charts (Chart.js, vendored). Data comes from the page's
// <script type="application/json" id="dashboard-data"> block (json_script): no inline code,
// so the strict CSP holds. Colours are the stylesheet's tokens, read again when the colour
// scheme changes, so the charts stay readable in both themes. Each chart has its numbers in a
// table next to it (the text alternative).
(function () {
  "use strict";

  const source = document.getElementById("dashboard-data");
  if (!source || typeof window.Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const charts = [];

  function token(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function hourLabel(iso) {
    const when = new Date(iso);
    return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function dayLabel(iso) {
    const [y, m, d] = iso.split("-").map(Number);
    return new Date(y, m - 1, d).toLocaleDateString([], { day: "numeric", month: "short" });
  }

  function base(fg, grid) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { labels: { color: fg, boxWidth: 12 } } },
      scales: {
        x: { ticks: { color: fg, maxRotation: 0, autoSkip: true }, grid: { color: grid } },
        y: { ticks: { color: fg }, grid: { color: grid }, beginAtZero: true },
      },
    };
  }

  function draw() {
    charts.splice(0).forEach((chart) => chart.destroy());
    const fg = token("--fg-muted") || "#566073";
    const grid = token("--chart-grid") || "rgba(0,0,0,0.1)";
    const palette = ["--chart-1", "--chart-2", "--chart-3", "--chart-4", "--chart-5", "--chart-6"].map(token);

    const trend = document.querySelector('canvas[data-chart="trend"]');
    if (trend) {
      const options = base(fg, grid);
      options.scales.y = { min: 0, max: 100, ticks: { color: fg, callback: (v) => v + " %" }, grid: { color: grid }, title: { display: true, text: "Compliance", color: fg } };
      options.scales.y2 = { position: "right", beginAtZero: true, ticks: { color: fg, precision: 0 }, grid: { drawOnChartArea: false }, title: { display: true, text: "Breaches", color: fg } };
      charts.push(new Chart(trend, {
        data: {
          labels: data.trend.days.map(dayLabel),
          datasets: [
            { type: "line", label: "Compliance %", data: data.trend.percent, yAxisID: "y", borderColor: token("--chart-line"), backgroundColor: token("--chart-line"), pointRadius: 0, borderWidth: 2, spanGaps: true, tension: 0 },
            { type: "bar", label: "Breaches", data: data.trend.breached, yAxisID: "y2", backgroundColor: token("--chart-breached"), borderWidth: 0, barPercentage: 0.7 },
          ],
        },
        options: options,
      }));
    }

    const teams = document.querySelector('canvas[data-chart="teams"]');
    if (teams) {
      const options = base(fg, grid);
      options.indexAxis = "y";
      options.scales.x.stacked = true;
      options.scales.y.stacked = true;
      options.scales.x.ticks.precision = 0;
      charts.push(new Chart(teams, {
        type: "bar",
        data: {
          labels: data.teams.names,
          datasets: [
            { label: "Met", data: data.teams.met, backgroundColor: token("--chart-met") },
            { label: "Breached", data: data.teams.breached, backgroundColor: token("--chart-breached") },
          ],
        },
        options: options,
      }));
    }

    const forecast = document.querySelector('canvas[data-chart="forecast"]');
    if (forecast) {
      const options = base(fg, grid);
      options.scales.x.stacked = true;
      options.scales.y.stacked = true;
      options.scales.y.ticks.precision = 0;
      options.scales.y.title = { display: true, text: "Targets due", color: fg };
      options.scales.y2 = { position: "right", beginAtZero: true, ticks: { color: fg, precision: 0 }, grid: { drawOnChartArea: false }, title: { display: true, text: "Agents on shift", color: fg } };
      const datasets = data.forecast.teams.map((team, i) => ({
        type: "bar", label: team.name, data: team.due, stack: "due", backgroundColor: palette[i % palette.length],
      }));
      datasets.push({
        type: "line", label: "Agents on shift", data: data.forecast.agents, yAxisID: "y2", stepped: "middle",
        borderColor: token("--chart-agents"), backgroundColor: token("--chart-agents"), borderWidth: 2, pointRadius: 2, fill: false,
      });
      charts.push(new Chart(forecast, { data: { labels: data.forecast.hours.map(hourLabel), datasets: datasets }, options: options }));
    }
  }

  // The forecast table's hours in the reader's own time.
  document.querySelectorAll("time[data-local-hour]").forEach((el) => {
    el.textContent = hourLabel(el.getAttribute("datetime"));
  });

  draw();
  const scheme = window.matchMedia("(prefers-color-scheme: dark)");
  if (scheme.addEventListener) scheme.addEventListener("change", draw);
})();
