// The agent workspace's own script: live updates, collision warnings, drafts, shortcuts and
// notifications. htmx does the requests and swaps; this file only wires events to them.
(function () {
  "use strict";

  const body = document.body;
  const i18n = JSON.parse(body.dataset.i18n || "{}");
  const me = Number(body.dataset.agentId || 0);
  const ticketEl = document.querySelector("[data-ticket-id].ticket-layout");
  const ticketId = ticketEl ? Number(ticketEl.dataset.ticketId) : null;
  const csrf = (() => {
    try {
      return JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  })();

  function toast(text, kind) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const item = document.createElement("div");
    item.className = "toast" + (kind ? " toast-" + kind : "");
    item.textContent = text;
    box.appendChild(item);
    setTimeout(() => item.remove(), 6000);
  }

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(data),
      credentials: "same-origin",
      keepalive: true,
    });
  }

  // Errors from htmx requests: the API's message, or a generic one.
  document.addEventListener("htmx:responseError", (event) => {
    let message = i18n.error || "Error";
    try {
      const payload = JSON.parse(event.detail.xhr.responseText);
      if (payload.error) {
        message = payload.error.message;
        if (payload.error.fields && payload.error.fields.length) {
          message += " " + payload.error.fields.map((f) => f.field + ": " + f.reason).join("; ");
        }
      }
    } catch (e) {
      /* not JSON: keep the generic text */
    }
    toast(message, "error");
  });
  document.addEventListener("htmx:sendError", () => toast(i18n.offline || "Offline", "error"));

  // ---- Live updates: one EventSource per page --------------------------------------------
  const liveBanner = document.getElementById("live-banner");
  const unreadBadge = document.querySelector("[data-unread]");
  let source = null;

  function setUnread(n) {
    if (!unreadBadge) return;
    unreadBadge.textContent = String(n);
    unreadBadge.hidden = n <= 0;
  }

  function connect() {
    if (!window.EventSource) return;
    source = new EventSource("/api/v1/stream");
    source.onopen = () => {
      if (liveBanner) liveBanner.hidden = true;
    };
    source.onerror = () => {
      if (liveBanner) {
        liveBanner.textContent = i18n.offline || "";
        liveBanner.hidden = false;
      }
    };
    source.onmessage = handleTicketEvent; // frames without an event name
    const ticketKinds = [
      "ticket_created", "message_added", "status_changed", "subject_changed", "priority_changed",
      "topic_changed", "language_changed", "team_changed", "assigned", "tags_changed",
      "fields_changed", "merged", "ticket_merged_in", "escalated", "sla_started", "sla_paused",
      "sla_resumed", "sla_warning", "sla_breached", "sla_fulfilled",
    ];
    for (const kind of ticketKinds) source.addEventListener(kind, handleTicketEvent);
    source.addEventListener("notification", handleNotification);
    source.addEventListener("activity", handleActivity);
  }

  let pending = false;
  function handleTicketEvent(event) {
    let data = {};
    try {
      data = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (ticketId && data.ticket_id === ticketId) {
      body.dispatchEvent(new CustomEvent("opora:this-ticket-changed"));
    }
    // The inbox list and counts refresh at most once per burst of events.
    if (!pending) {
      pending = true;
      setTimeout(() => {
        pending = false;
        body.dispatchEvent(new CustomEvent("opora:ticket-changed"));
      }, 300);
    }
  }

  // ---- Live parts miss no change -----------------------------------------------------------
  // A live part (the inbox list; a ticket's head, timeline and side panel) replaces itself
  // (outerHTML). A change that comes while the part's refresh is in flight is queued by htmx on
  // the element, and htmx drops that queued request once the response has replaced the element:
  // a customer's message that came in that window stayed off the timeline until the next event.
  // So changes are counted (in the capture phase, before htmx's own listeners send anything),
  // each refresh remembers the count it was sent at, and a part that lands older than the latest
  // change asks once more.
  let changes = 0;
  const sentAt = new Map();
  for (const name of ["opora:this-ticket-changed", "opora:ticket-changed", "opora:fields-saved", "opora:replied"]) {
    document.addEventListener(name, () => changes++, true);
  }
  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail && event.detail.elt;
    if (elt && elt.id && elt.hasAttribute && elt.hasAttribute("data-live")) sentAt.set(elt.id, changes);
  });
  // afterSettle: htmx wires the new element's triggers while it settles, not when it swaps.
  document.addEventListener("htmx:afterSettle", (event) => {
    const elt = event.target;
    if (!elt || !elt.id || !elt.hasAttribute || !elt.hasAttribute("data-live") || !sentAt.has(elt.id)) return;
    if (sentAt.get(elt.id) < changes) {
      sentAt.set(elt.id, changes);
      window.htmx.trigger(elt, "opora:stale");
    }
  });

  function handleNotification(event) {
    let data = {};
    try {
      data = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    setUnread(Number(unreadBadge && unreadBadge.textContent || 0) + 1);
    const text = data.text || data.snippet || (data.ticket_id ? "#" + data.ticket_id : "");
    toast(text, "info");
    if (window.Notification && Notification.permission === "granted" && document.hidden) {
      const note = new Notification("Opora", { body: text, tag: "opora-" + (data.id || "") });
      note.onclick = () => {
        window.focus();
        if (data.ticket_id) location.href = "/tickets/" + data.ticket_id;
      };
    }
  }

  // ---- Collision detection: who else is on this ticket ----------------------------------
  const others = new Map(); // agent id -> {name, state, at}
  const collisionBox = document.getElementById("collision");

  function renderCollision() {
    if (!collisionBox) return;
    const now = Date.now();
    const lines = [];
    for (const [id, info] of others) {
      if (now - info.at > 45000 || info.state === "left") {
        others.delete(id);
        continue;
      }
      lines.push(info.name + " " + (info.state === "typing" ? i18n.typing : i18n.viewing));
    }
    collisionBox.textContent = lines.join(" · ");
    collisionBox.hidden = lines.length === 0;
  }

  function handleActivity(event) {
    let data = {};
    try {
      data = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (!ticketId || data.ticket_id !== ticketId || data.agent_id === me) return;
    // A chat visitor typing arrives on the same topic, marked as the customer.
    const name = data.customer ? i18n.customer || "Customer" : data.agent_name || "#" + data.agent_id;
    others.set(data.customer ? "customer" : data.agent_id, { name: name, state: data.state, at: Date.now() });
    renderCollision();
  }

  function announce(state) {
    if (ticketId) post("/api/v1/tickets/" + ticketId + "/activity", { state: state }).catch(() => {});
  }

  if (ticketId) {
    announce("viewing");
    setInterval(() => announce("viewing"), 20000);
    setInterval(renderCollision, 5000);
    window.addEventListener("pagehide", () => announce("left"));
  }

  // ---- Composer: drafts that survive a reload, typing notices, templates -----------------
  const composer = document.querySelector("[data-composer]");
  if (composer && ticketId) {
    const area = composer.querySelector("textarea[name=text]");
    const key = "opora:draft:" + ticketId;
    const saved = localStorage.getItem(key);
    if (saved && !area.value) {
      try {
        const draft = JSON.parse(saved);
        area.value = draft.text || "";
        const mode = composer.querySelector("input[name=mode][value=" + (draft.mode === "note" ? "note" : "reply") + "]");
        if (mode) mode.checked = true;
        if (draft.text) toast(i18n.draft_restored || "", "info");
      } catch (e) {
        localStorage.removeItem(key);
      }
    }
    let lastTyping = 0;
    const saveDraft = () => {
      const mode = composer.querySelector("input[name=mode]:checked");
      if (area.value.trim()) {
        localStorage.setItem(key, JSON.stringify({ text: area.value, mode: mode ? mode.value : "reply" }));
      } else {
        localStorage.removeItem(key);
      }
    };
    area.addEventListener("input", () => {
      saveDraft();
      if (Date.now() - lastTyping > 8000) {
        lastTyping = Date.now();
        announce("typing");
      }
    });
    composer.addEventListener("change", saveDraft);
    composer.classList.toggle("is-note", composer.querySelector("input[name=mode]:checked").value === "note");
    composer.addEventListener("change", () => {
      composer.classList.toggle("is-note", composer.querySelector("input[name=mode]:checked").value === "note");
    });
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        composer.requestSubmit();
      }
    });
    body.addEventListener("opora:replied", () => {
      localStorage.removeItem(key);
      composer.reset();
      composer.classList.remove("is-note");
      toast(i18n.saved || "", "ok");
    });
    // Inserted text goes at the cursor; the input event saves the draft and re-runs the tone check.
    const insertText = (text) => {
      const start = area.selectionStart || 0;
      area.value = area.value.slice(0, start) + text + area.value.slice(area.selectionEnd || start);
      area.focus();
      area.selectionStart = area.selectionEnd = start + text.length;
      area.dispatchEvent(new Event("input", { bubbles: true }));
    };
    // A chosen template is rendered for this ticket and inserted at the cursor.
    document.addEventListener("click", async (event) => {
      const item = event.target.closest("[data-canned-id]");
      if (!item) return;
      event.preventDefault();
      const response = await fetch("/ui/canned/" + item.dataset.cannedId + "/text?ticket_id=" + ticketId, {
        credentials: "same-origin",
      });
      if (!response.ok) {
        toast(i18n.error || "Error", "error");
        return;
      }
      insertText(await response.text());
      document.getElementById("canned-results").innerHTML = "";
    });
    // Suggestions (an article's link or text, the reply of a similar ticket) carry their text.
    document.addEventListener("click", (event) => {
      const item = event.target.closest("[data-insert-text]");
      if (!item) return;
      event.preventDefault();
      insertText(item.dataset.insertText);
    });
    body.addEventListener("opora:replied", () => {
      const hints = document.getElementById("tone-hints");
      if (hints) hints.innerHTML = "";
    });
  }
  body.addEventListener("opora:fields-saved", () => toast(i18n.saved || "", "ok"));

  // ---- The ticket's fields panel keeps an agent's unsaved edit ------------------------------
  // The side panel is re-fetched whenever this ticket changes (a reply, an SLA clock, another
  // agent). Swapping it while the agent has picked a new status or team but not yet pressed Save
  // would silently put the old value back, and Save would then store that old value. Skipping
  // the swap is no better: the form posts every field, so a value another agent changed meanwhile
  // would be reverted by the stale panel. So the fresh panel always lands, and the fields the
  // agent edited get the agent's values back. A request already in flight when the agent starts
  // editing is covered too, since the edits are read when its response arrives.
  function edits(form) {
    const changed = [];
    for (const el of form.elements) {
      if (!el.name || el.type === "hidden" || el.disabled) continue;
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked !== el.defaultChecked) changed.push({ name: el.name, value: el.value, checked: el.checked });
      } else if (el.tagName === "SELECT" && el.multiple) {
        const picked = Array.from(el.options).filter((o) => o.selected);
        if (Array.from(el.options).some((o) => o.selected !== o.defaultSelected)) {
          changed.push({ name: el.name, values: picked.map((o) => o.value) });
        }
      } else if (el.tagName === "SELECT") {
        // A select with no option marked selected shows its first one: that is its saved value.
        const saved = Array.from(el.options).find((o) => o.defaultSelected) || el.options[0];
        if (saved && el.value !== saved.value) changed.push({ name: el.name, value: el.value });
      } else if ("defaultValue" in el && el.value !== el.defaultValue) {
        changed.push({ name: el.name, value: el.value });
      }
    }
    return changed;
  }
  // Calls apply(element, edit) for each element of the form that an edit names.
  function eachEdited(form, changed, apply) {
    for (const edit of changed) {
      for (const el of form.elements) if (el.name === edit.name) apply(el, edit);
    }
  }
  function restore(form, changed) {
    eachEdited(form, changed, (el, edit) => {
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.value === edit.value) el.checked = edit.checked;
      } else if (edit.values) {
        for (const option of el.options) option.selected = edit.values.includes(option.value);
      } else if (el.tagName !== "SELECT" || Array.from(el.options).some((o) => o.value === edit.value)) {
        el.value = edit.value; // a team or agent removed meanwhile leaves the server's value
      }
      const details = el.closest("details");
      if (details) details.open = true;
    });
  }
  let carried = null;
  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail && event.detail.target;
    if (!target || target.id !== "side") return;
    const trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    const form = target.querySelector("form.fields");
    // After Save the server holds the agent's values, and the panel shows them as saved.
    carried = trigger && trigger.type === "opora:fields-saved" ? null : form && edits(form);
  });
  // Once Save succeeded, what it sent is the panel's saved state. The refresh that follows Save
  // can be replaced in htmx's queue by a later one (an event of the same save, a customer's
  // message); without this, that refresh would take the saved values for unsaved edits and keep
  // them over what the server says next.
  let submitted = null;
  function markSaved(form, changed) {
    eachEdited(form, changed, (el, edit) => {
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.value === edit.value) el.defaultChecked = edit.checked;
      } else if (el.tagName === "SELECT") {
        const values = edit.values || [edit.value];
        for (const option of el.options) option.defaultSelected = values.includes(option.value);
      } else {
        el.defaultValue = edit.value;
      }
    });
  }
  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail && event.detail.elt;
    if (elt && elt.matches && elt.matches("form.fields")) submitted = edits(elt);
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const elt = event.detail && event.detail.elt;
    if (!elt || !elt.matches || !elt.matches("form.fields")) return;
    const form = document.querySelector("#side form.fields");
    if (event.detail.successful && form && submitted) markSaved(form, submitted);
    submitted = null;
  });
  // afterSwap fires on the new panel in the same task as the swap, so no click can land on the
  // server's values first (htmx:load waits for the settle delay).
  document.addEventListener("htmx:afterSwap", (event) => {
    const elt = event.target;
    if (!carried || !elt || elt.id !== "side") return;
    const form = elt.querySelector("form.fields");
    if (form && carried.length) restore(form, carried);
    carried = null;
  });

  // ---- Sandboxed e-mail frames: fit the height of their content --------------------------
  function fitFrame(frame) {
    try {
      const doc = frame.contentDocument;
      if (doc && doc.body) frame.style.height = Math.min(doc.documentElement.scrollHeight + 4, 1200) + "px";
    } catch (e) {
      /* cross-origin: keep the default height */
    }
  }
  function wireFrames(root) {
    root.querySelectorAll("iframe.mail-frame").forEach((frame) => {
      frame.addEventListener("load", () => fitFrame(frame));
    });
  }
  wireFrames(document);
  document.addEventListener("htmx:afterSwap", (event) => wireFrames(event.target));

  // ---- Presence, notifications panel ------------------------------------------------------
  const presence = document.querySelector("[data-presence]");
  if (presence) {
    presence.addEventListener("change", async () => {
      const response = await fetch("/api/v1/me/presence", {
        method: "PUT",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ presence: presence.value }),
        credentials: "same-origin",
      });
      presence.className = "presence presence-" + presence.value;
      if (!response.ok) toast(i18n.error || "Error", "error");
    });
  }
  const bell = document.querySelector("[data-bell]");
  const panel = document.getElementById("notification-panel");
  if (bell && panel) {
    bell.addEventListener("click", () => {
      const open = panel.hidden;
      panel.hidden = !open;
      bell.setAttribute("aria-expanded", String(open));
    });
    fetch("/ui/notifications/count", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : "0"))
      .then((n) => setUnread(Number(n) || 0))
      .catch(() => {});
  }
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-enable-notifications]") && window.Notification) {
      Notification.requestPermission().then((result) => {
        if (result === "granted") toast(i18n.notifications_on || "", "ok");
      });
    }
  });
  body.addEventListener("opora:notifications-read", () => setUnread(0));

  // ---- Inbox: selection, bulk form, counts, row navigation -------------------------------
  const bulk = document.querySelector("[data-bulk]");
  if (bulk) {
    const action = bulk.querySelector("[data-bulk-action]");
    const sync = () => {
      bulk.querySelectorAll("[data-bulk-for]").forEach((input) => {
        const on = input.dataset.bulkFor === action.value;
        input.hidden = !on;
        input.disabled = !on;
      });
    };
    action.addEventListener("change", sync);
    sync();
  }
  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-select-all]")) {
      document.querySelectorAll("input[name=ticket_ids]").forEach((box) => {
        box.checked = event.target.checked;
      });
    }
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.target.id === "view-counts") {
      event.target.querySelectorAll("[data-count]").forEach((item) => {
        const slot = document.querySelector('[data-count-for="' + item.dataset.count + '"]');
        if (slot) slot.textContent = item.textContent;
      });
    }
    rememberList();
  });

  function rows() {
    return Array.from(document.querySelectorAll("tr.ticket-row"));
  }
  function rememberList() {
    const ids = rows().map((row) => Number(row.dataset.ticketId));
    if (ids.length) sessionStorage.setItem("opora:list", JSON.stringify(ids));
  }
  rememberList();
  let cursor = -1;
  function select(index) {
    const all = rows();
    if (!all.length) return;
    cursor = Math.max(0, Math.min(all.length - 1, index));
    all.forEach((row, i) => row.classList.toggle("is-selected", i === cursor));
    all[cursor].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("click", (event) => {
    const row = event.target.closest("tr.ticket-row");
    if (row && !event.target.closest("a, input, button, label")) location.href = row.dataset.href;
  });

  // ---- Keyboard shortcuts -------------------------------------------------------------------
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const area = composer && composer.querySelector("textarea[name=text]");
    switch (event.key) {
      case "j":
        select(cursor + 1);
        break;
      case "k":
        select(cursor - 1);
        break;
      case "Enter":
        if (cursor >= 0 && rows()[cursor]) location.href = rows()[cursor].dataset.href;
        break;
      case "J": {
        if (!ticketId) break;
        const ids = JSON.parse(sessionStorage.getItem("opora:list") || "[]");
        const next = ids[ids.indexOf(ticketId) + 1];
        if (next) location.href = "/tickets/" + next;
        break;
      }
      case "r":
      case "n":
        if (area) {
          event.preventDefault();
          composer.querySelector("input[name=mode][value=" + (event.key === "n" ? "note" : "reply") + "]").checked = true;
          composer.dispatchEvent(new Event("change"));
          area.focus();
        }
        break;
      case "a": {
        const button = document.querySelector("[data-assign-me]");
        if (button) button.click();
        break;
      }
      case "s": {
        const status = document.getElementById("fld-status");
        if (status) {
          status.value = "solved";
          status.form.requestSubmit();
        }
        break;
      }
      case "/": {
        event.preventDefault();
        const search = document.getElementById("global-search");
        if (search) search.focus();
        break;
      }
      case "?": {
        const help = document.getElementById("shortcuts");
        if (help && help.showModal) help.showModal();
        break;
      }
      default:
        return;
    }
  });

  // ---- SLA countdowns: the server renders them once, the page keeps them current ------------
  const relative = window.Intl && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat(body.dataset.lang || "ru", { numeric: "auto" })
    : null;
  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach((el) => {
      const due = Date.parse(el.dataset.countdown);
      if (Number.isNaN(due) || !relative) return;
      const minutes = Math.round((due - now) / 60000);
      el.textContent = Math.abs(minutes) < 90
        ? relative.format(minutes, "minute")
        : relative.format(Math.round(minutes / 60), "hour");
      el.classList.toggle("sla-breached", minutes < 0);
    });
  }
  tick();
  setInterval(tick, 30000);
  document.addEventListener("htmx:afterSwap", tick);

  connect();
})();
