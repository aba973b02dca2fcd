// Tocsin dashboard: live updates over Server-Sent Events, browser notifications and an
// audible alert for new SEV1/SEV2 incidents. Plain script, no build step, no network
// access beyond this server. The pages work without it (reload to see changes).
(function () {
  "use strict";

  var body = document.body;
  var stream = body.getAttribute("data-live");
  var page = body.getAttribute("data-page");
  var ALERT_RANK = 2; // SEV1 and SEV2
  var FINISHED = ["resolved", "closed"];
  var audio = null;
  var alerted = {};

  // -- sound and notifications ---------------------------------------------------------

  function audioContext() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!audio) audio = new Context();
    if (audio.state === "suspended") audio.resume();
    return audio;
  }

  function beep() {
    var ctx = audioContext();
    if (!ctx) return;
    var now = ctx.currentTime;
    [0, 0.25].forEach(function (offset) {
      var oscillator = ctx.createOscillator();
      var gain = ctx.createGain();
      oscillator.type = "square";
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.15, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.18);
      oscillator.connect(gain);
      gain.connect(ctx.destination);
      oscillator.start(now + offset);
      oscillator.stop(now + offset + 0.2);
    });
    body.setAttribute("data-last-beep", String(Date.now()));
  }

  function showNotificationState() {
    var state = document.getElementById("notification-state");
    if (!state) return;
    if (!("Notification" in window)) {
      state.textContent = "This browser cannot show notifications.";
    } else if (Notification.permission === "granted") {
      state.textContent = "Notifications on.";
    } else if (Notification.permission === "denied") {
      state.textContent = "Notifications are blocked in this browser's settings.";
    } else {
      state.textContent = "";
    }
  }

  var button = document.getElementById("enable-notifications");
  if (button) {
    button.addEventListener("click", function () {
      audioContext(); // a click is what lets a page play sound later
      if (!("Notification" in window)) {
        showNotificationState();
        return;
      }
      var asked = Notification.requestPermission(showNotificationState);
      if (asked && typeof asked.then === "function") asked.then(showNotificationState);
    });
    showNotificationState();
  }

  function announce(data) {
    if (!data["new"] || data.severity_rank > ALERT_RANK || alerted[data.id]) return;
    alerted[data.id] = true;
    beep();
    if ("Notification" in window && Notification.permission === "granted") {
      var note = new Notification(data.severity + " " + data.id + ": " + data.title, {
        body: data.services.length ? "Services: " + data.services.join(", ") : "",
        tag: "tocsin-" + data.id,
        requireInteraction: true
      });
      note.onclick = function () {
        window.focus();
        window.location.href = data.url;
      };
    }
  }

  // -- the incident list ---------------------------------------------------------------

  function matchesFilters(data) {
    var params = new URLSearchParams(window.location.search);
    var status = params.get("status") || "";
    var severity = params.get("severity") || "";
    var service = params.get("service") || "";
    if (status === "active" && FINISHED.indexOf(data.status) >= 0) return false;
    if (status && status !== "active" && status !== data.status) return false;
    if (severity && severity.toLowerCase() !== data.severity.toLowerCase()) return false;
    if (service && data.services.indexOf(service) < 0) return false;
    return true;
  }

  function rowFrom(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  // Where a row goes: the list's order (the server's), as a key compared element by
  // element, smallest first. "urgent": open SEV1/SEV2 first, worst first; "severity":
  // worst first; then newest first.
  function sortKey(list, row) {
    var order = list.getAttribute("data-order") || "newest";
    var urgentRank = Number(list.getAttribute("data-urgent-rank") || ALERT_RANK);
    var rank = Number(row.getAttribute("data-rank"));
    var number = Number(row.getAttribute("data-number"));
    var open = FINISHED.indexOf(row.getAttribute("data-status")) < 0;
    if (order === "urgent") return [open && rank <= urgentRank ? rank : urgentRank + 1, -number];
    if (order === "severity") return [rank, -number];
    return [-number];
  }

  function before(a, b) {
    for (var i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) return a[i] < b[i];
    }
    return false;
  }

  function place(list, row) {
    var key = sortKey(list, row);
    var next = null;
    Array.prototype.some.call(list.children, function (child) {
      if (child !== row && before(key, sortKey(list, child))) {
        next = child;
        return true;
      }
      return false;
    });
    list.insertBefore(row, next);
  }

  // Screen readers hear about a new incident the list shows (a polite live region).
  function announceRow(data) {
    var announcer = document.getElementById("incident-announcer");
    if (!announcer) return;
    announcer.textContent = "";
    window.setTimeout(function () {
      announcer.textContent = "New incident: " + data.severity + " " + data.id + ", " + data.title + ".";
    }, 50);
  }

  function updateList(data) {
    var list = document.getElementById("incident-list");
    if (!list) return;
    var existing = null;
    Array.prototype.forEach.call(list.children, function (child) {
      if (child.getAttribute("data-incident") === data.id) existing = child;
    });
    // A later page shows older incidents: a new one belongs on the first.
    var later = Number(list.getAttribute("data-page-number") || "1") > 1;
    if (!matchesFilters(data)) {
      if (existing) existing.remove();
    } else if (existing || !later) {
      var row = rowFrom(data.html);
      if (existing) existing.remove();
      place(list, row);
      if (!existing && data["new"]) announceRow(data);
    }
    var empty = document.getElementById("incident-empty");
    if (empty) empty.hidden = list.children.length > 0;
  }

  // -- one incident's page -------------------------------------------------------------

  var refreshing = false;
  var again = false;

  function refreshIncident() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    // The header keeps a message the next page must show (after an action's redirect).
    fetch(window.location.pathname, {
      credentials: "same-origin",
      headers: { Accept: "text/html", "X-Tocsin-Refresh": "1" },
    })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        fresh.querySelectorAll("[data-live-section]").forEach(function (section) {
          var current = document.getElementById(section.id);
          if (current) current.replaceWith(document.importNode(section, true));
        });
        var title = fresh.querySelector("[data-field=title]");
        var shown = document.querySelector("[data-field=title]");
        if (title && shown) shown.textContent = title.textContent;
        updateScrollHints();
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) {
          again = false;
          refreshIncident();
        }
      });
  }

  function updateIncident(data) {
    if (page !== "incident" || body.getAttribute("data-incident") !== data.id) return;
    var status = document.querySelector("[data-testid=incident-status]");
    if (status) {
      status.textContent = data.status;
      status.className = "status status-" + data.status;
    }
    var severity = document.querySelector("[data-testid=incident-severity]");
    if (severity) severity.textContent = data.severity;
    refreshIncident();
  }

  // -- tables wider than their box -----------------------------------------------------

  function updateScrollHints() {
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      var hint = wrap.previousElementSibling;
      if (!hint || !hint.classList.contains("scroll-hint")) return;
      hint.hidden = wrap.scrollWidth <= wrap.clientWidth + 1;
    });
  }

  updateScrollHints();
  window.addEventListener("resize", updateScrollHints);

  // -- the stream ----------------------------------------------------------------------

  if (stream && "EventSource" in window) {
    var source = new EventSource(stream);
    source.addEventListener("incident", function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      updateList(data);
      updateIncident(data);
      announce(data);
    });
    source.addEventListener("signedout", function () {
      source.close();
      window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
    });
    source.addEventListener("open", function () {
      body.setAttribute("data-live-state", "open");
    });
    source.addEventListener("error", function () {
      body.setAttribute("data-live-state", "reconnecting");
    });
  }
})();
