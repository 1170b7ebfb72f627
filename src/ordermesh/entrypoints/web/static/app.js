// ordermesh dashboard: locale formatting, countdowns, confirmations, the chart, and keeping
// the orders list's refresh from undoing a selection. No inline script (the CSP forbids it).
(function () {
  "use strict";
  const locale = navigator.language || "en";
  const dateFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
  const numberFormat = new Intl.NumberFormat(locale);

  function formatTimes(root) {
    root.querySelectorAll("time[datetime]:not([data-countdown])").forEach(function (el) {
      const when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) { el.textContent = dateFormat.format(when); el.title = when.toISOString(); }
    });
    root.querySelectorAll("data[data-num]").forEach(function (el) {
      el.textContent = numberFormat.format(Number(el.value));
    });
    root.querySelectorAll("data[data-money]").forEach(function (el) {
      try {
        el.textContent = new Intl.NumberFormat(locale, { style: "currency", currency: el.dataset.money }).format(Number(el.value));
      } catch (e) { /* an unknown currency code keeps the server's text */ }
    });
    tickCountdowns(root);
  }

  function describe(ms) {
    const minutes = Math.round(Math.abs(ms) / 60000);
    const h = Math.floor(minutes / 60), m = minutes % 60;
    const span = h ? h + " h " + m + " min" : m + " min";
    return ms >= 0 ? "in " + span : "late by " + span;
  }

  function tickCountdowns(root) {
    const now = Date.now();
    (root || document).querySelectorAll("time[data-countdown]").forEach(function (el) {
      const left = new Date(el.getAttribute("datetime")).getTime() - now;
      el.textContent = describe(left);
      el.classList.toggle("warn", left < 4 * 3600 * 1000);
    });
  }

  const palette = ["#1f5fbf", "#d9731a", "#1e7a3c", "#8e3fbf", "#b3261e", "#00838f", "#6d4c41"];

  function chartData(id) {
    const data = document.getElementById(id + "-data");
    const canvas = document.getElementById(id);
    if (!data || !canvas || typeof Chart === "undefined" || Chart.getChart(canvas)) return null;
    return { canvas: canvas, values: JSON.parse(data.textContent) };
  }

  function drawCharts() {
    const orders = chartData("orders-chart");
    if (orders) {
      const chart = orders.values;
      const labels = chart.days.map(function (d) {
        return new Date(d + "T00:00:00Z").toLocaleDateString(locale, { month: "short", day: "numeric", timeZone: "UTC" });
      });
      new Chart(orders.canvas, {
        type: "line",
        data: {
          labels: labels,
          datasets: Object.keys(chart.channels).map(function (name, i) {
            const colour = palette[i % palette.length];
            return { label: name, data: chart.channels[name], borderColor: colour, backgroundColor: colour, tension: 0.2, pointRadius: 0, borderWidth: 2 };
          }),
        },
        options: {
          maintainAspectRatio: false, animation: false,
          interaction: { mode: "index", intersect: false },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        },
      });
    }
    const cover = chartData("cover-chart");
    if (cover) {
      new Chart(cover.canvas, {
        type: "bar",
        data: {
          labels: cover.values.map(function (c) { return c.sku; }),
          datasets: [{
            label: "Days of cover",
            data: cover.values.map(function (c) { return c.days; }),
            backgroundColor: cover.values.map(function (c) { return c.days < 7 ? "#b3261e" : c.days < 21 ? "#d9731a" : "#1e7a3c"; }),
          }],
        },
        options: { indexAxis: "y", maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true } } },
      });
    }
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    const question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    if (event.target.id === "select-all") {
      document.querySelectorAll('input[name="order_ids"]').forEach(function (box) { box.checked = event.target.checked; });
    }
  });

  // The orders list refreshes itself, but never while the user has orders ticked.
  document.addEventListener("htmx:beforeRequest", function (event) {
    const table = document.getElementById("orders-table");
    if (table && event.detail.elt === table && table.querySelector("input[type=checkbox]:checked")) {
      event.preventDefault();
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    formatTimes(event.detail.target);
    drawCharts();
  });

  document.addEventListener("DOMContentLoaded", function () {
    formatTimes(document);
    drawCharts();
    setInterval(function () { tickCountdowns(document); }, 30000);
  });
})();
