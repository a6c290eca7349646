// Opora chat widget. One tag on any page:
//   <script src="https://desk.example/widget/static/widget.js" data-channel="PUBLIC_KEY" async></script>
// No framework and no globals besides window.OporaChat; everything it draws lives in a Shadow DOM
// so that the shop's CSS and ours never touch. Texts in Russian or English, from <html lang>.
(function () {
  "use strict";

  const script =
    document.currentScript || document.querySelector("script[data-channel][src*='widget.js']");
  if (!script || window.OporaChat) return;
  const BASE = new URL(script.src, location.href).origin;
  const CHANNEL = script.dataset.channel;
  const STORE = "opora-chat:" + CHANNEL + ":";
  const READ_BATCH = 200; // the server's limit of ids in one read frame
  const pageLang = (document.documentElement.lang || navigator.language || "ru").slice(0, 2).toLowerCase();

  const TEXTS = {
    ru: {
      open: "Чат с поддержкой",
      title: "Поддержка",
      placeholder: "Напишите сообщение…",
      send: "Отправить",
      attach: "Прикрепить файл",
      human: "Позвать человека",
      humanDone: "Мы позвали специалиста — он скоро подключится.",
      close: "Закрыть",
      typing: "печатает…",
      offline: "Сейчас никого нет на месте. Оставьте e-mail — мы ответим письмом.",
      closed: "Мы сейчас не работаем. Оставьте e-mail — мы ответим письмом, как только начнём.",
      email: "Ваш e-mail",
      emailNeeded: "Укажите e-mail, чтобы мы могли ответить.",
      emailSaved: "Спасибо! Ответ придёт сюда и на ",
      sending: "отправляется",
      sent: "отправлено",
      read: "прочитано",
      reconnecting: "Соединение потеряно, переподключаемся…",
      tooLarge: "Файл слишком большой (не больше {n} МБ).",
      badType: "Такие файлы не принимаются.",
      error: "Не получилось отправить. Попробуйте ещё раз.",
      greeting: "Здравствуйте! Чем можем помочь?",
      you: "Вы",
      bot: "Бот",
      suggest: "Возможно, ответ уже есть:",
    },
    en: {
      open: "Chat with support",
      title: "Support",
      placeholder: "Type a message…",
      send: "Send",
      attach: "Attach a file",
      human: "Talk to a person",
      humanDone: "We have called a person; they will join shortly.",
      close: "Close",
      typing: "is typing…",
      offline: "Nobody is here right now. Leave your e-mail and we will answer by mail.",
      closed: "We are closed now. Leave your e-mail and we will answer by mail when we open.",
      email: "Your e-mail",
      emailNeeded: "Enter your e-mail so that we can answer.",
      emailSaved: "Thank you! The answer will come here and to ",
      sending: "sending",
      sent: "sent",
      read: "read",
      reconnecting: "Connection lost, reconnecting…",
      tooLarge: "The file is too large (at most {n} MB).",
      badType: "Files of this type are not accepted.",
      error: "Could not send. Please try again.",
      greeting: "Hello! How can we help?",
      you: "You",
      bot: "Bot",
      suggest: "The answer may already be here:",
    },
  };
  let lang = pageLang === "en" ? "en" : "ru";
  let t = TEXTS[lang];

  // ---- state ------------------------------------------------------------------------------------
  const store = {
    get(name, fallback) {
      try {
        const raw = localStorage.getItem(STORE + name);
        return raw === null ? fallback : JSON.parse(raw);
      } catch (e) {
        return fallback;
      }
    },
    set(name, value) {
      try {
        localStorage.setItem(STORE + name, JSON.stringify(value));
      } catch (e) {
        /* private mode: the chat still works for this page */
      }
    },
  };
  const state = {
    token: store.get("token", null),
    outbox: store.get("outbox", []), // messages not acknowledged yet: resent after a reconnect
    messages: new Map(), // id or "c:" + client id -> message
    settings: {},
    offline: null,
    email: null,
    open: store.get("open", false),
    readSent: new Set(), // reply ids this socket has already reported as read
    socket: null,
    attempts: 0,
    ready: false,
  };

  function clientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  // ---- DOM (Shadow DOM: the shop's CSS cannot reach in, ours cannot leak out) ------------------
  const host = document.createElement("div");
  host.id = "opora-chat";
  host.setAttribute("data-opora-chat", "");
  const root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  const style = document.createElement("style");
  style.textContent = `
    :host { all: initial; }
    * { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
    .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 56px; height: 56px;
      border-radius: 50%; border: 0; cursor: pointer; background: var(--c); color: var(--tc);
      box-shadow: 0 4px 14px rgba(0,0,0,.25); padding: 0; display: flex; align-items: center; justify-content: center; }
    .badge { position: absolute; top: -4px; right: -4px; min-width: 20px; height: 20px; border-radius: 10px;
      background: #d1242f; color: #fff; font-size: 12px; line-height: 20px; padding: 0 5px; }
    .panel { position: fixed; right: 20px; bottom: 88px; z-index: 2147483000; width: 360px; max-width: calc(100vw - 24px);
      height: 520px; max-height: calc(100vh - 110px); background: #fff; color: #1f2328; border-radius: 12px;
      box-shadow: 0 8px 30px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden; font-size: 14px; }
    .panel[hidden], [hidden] { display: none !important; }
    header { background: var(--c); color: var(--tc); padding: 10px 12px; display: flex; gap: 8px; align-items: center; }
    header .title { font-weight: 600; flex: 1; }
    header button { background: rgba(255,255,255,.18); color: inherit; border: 0; border-radius: 6px; padding: 5px 8px;
      cursor: pointer; font-size: 12px; }
    .banner { background: #fff8c5; color: #3b2300; padding: 6px 12px; font-size: 12px; }
    .log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; background: #f6f8fa; }
    .row { display: flex; gap: 6px; align-items: flex-end; max-width: 85%; }
    .row.mine { align-self: flex-end; flex-direction: row-reverse; }
    .avatar { width: 28px; height: 28px; border-radius: 50%; background: #8c959f; color: #fff; font-size: 12px;
      font-weight: 600; display: flex; align-items: center; justify-content: center; flex: none; }
    .bubble { background: #fff; border: 1px solid #d0d7de; border-radius: 12px; padding: 7px 10px; white-space: pre-wrap;
      word-wrap: break-word; overflow-wrap: anywhere; }
    .mine .bubble { background: var(--c); color: var(--tc); border-color: transparent; }
    .who { font-size: 11px; color: #57606a; margin-bottom: 2px; }
    .meta { font-size: 10px; color: #57606a; margin-top: 2px; text-align: right; }
    .mine .meta { color: inherit; opacity: .8; }
    .bubble img { max-width: 220px; max-height: 200px; display: block; border-radius: 6px; margin-top: 4px; }
    .bubble a { color: inherit; }
    .system { align-self: center; font-size: 12px; color: #57606a; text-align: center; max-width: 90%; }
    .typing { font-size: 12px; color: #57606a; padding: 0 12px 4px; min-height: 16px; background: #f6f8fa; }
    form { display: flex; flex-direction: column; border-top: 1px solid #d0d7de; background: #fff; }
    .email { margin: 8px 8px 0; padding: 7px 9px; border: 1px solid #d0d7de; border-radius: 8px; font-size: 14px; }
    .composer { display: flex; gap: 6px; padding: 8px; align-items: flex-end; }
    textarea { flex: 1; resize: none; border: 1px solid #d0d7de; border-radius: 8px; padding: 7px 9px; font-size: 14px;
      min-height: 36px; max-height: 120px; color: #1f2328; background: #fff; }
    .icon { border: 0; background: transparent; cursor: pointer; font-size: 20px; padding: 4px; color: #57606a; }
    .send { background: var(--c); color: var(--tc); border: 0; border-radius: 8px; padding: 8px 12px; cursor: pointer; }
    .error { color: #d1242f; font-size: 12px; padding: 0 8px 6px; }
    .bot .avatar { background: #6e40c9; }
    .quick { display: flex; gap: 6px; margin-top: 6px; flex-wrap: wrap; }
    .quick button { border: 1px solid var(--c); color: var(--c); background: #fff; border-radius: 14px;
      padding: 4px 12px; cursor: pointer; font-size: 13px; }
    .suggest { padding: 6px 10px 0; font-size: 12px; color: #57606a; }
    .suggest a { display: block; color: var(--c); padding: 2px 0; text-decoration: none; }
    .suggest a:hover { text-decoration: underline; }
  `;
  root.appendChild(style);

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Inline SVG, not emoji: many systems (and CI's Chromium) have no emoji font.
  const CHAT_ICON =
    '<svg width="28" height="28" viewBox="0 0 24 24" fill="currentColor" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg>';
  const CLIP_ICON =
    '<svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M21 11l-8.5 8.5a5 5 0 0 1-7-7L14 4a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 7"/></svg>';
  const launcher = el("button", { class: "launcher", type: "button", part: "launcher", "aria-label": t.open });
  launcher.innerHTML = CHAT_ICON;
  const badge = el("span", { class: "badge", hidden: "" }, "0");
  launcher.appendChild(badge);
  const panel = el("div", { class: "panel", role: "dialog", hidden: "" });
  const header = el("header");
  const title = el("span", { class: "title" }, t.title);
  const humanButton = el("button", { type: "button", "data-human": "" }, t.human);
  const closeButton = el("button", { type: "button", "aria-label": t.close }, "✕");
  header.append(title, humanButton, closeButton);
  const banner = el("div", { class: "banner", hidden: "" });
  const log = el("div", { class: "log", "aria-live": "polite" });
  const typing = el("div", { class: "typing" });
  const form = el("form");
  const emailInput = el("input", { class: "email", type: "email", placeholder: t.email, hidden: "", autocomplete: "email" });
  const composer = el("div", { class: "composer" });
  const fileInput = el("input", { type: "file", hidden: "" });
  const attachButton = el("button", { class: "icon", type: "button", title: t.attach, "aria-label": t.attach });
  attachButton.innerHTML = CLIP_ICON;
  const area = el("textarea", { rows: "1", placeholder: t.placeholder, "aria-label": t.placeholder });
  const sendButton = el("button", { class: "send", type: "submit" }, t.send);
  const errorLine = el("div", { class: "error", hidden: "" });
  const suggestBox = el("div", { class: "suggest", hidden: "", "data-suggest": "" });
  composer.append(fileInput, attachButton, area, sendButton);
  form.append(suggestBox, emailInput, composer, errorLine);
  panel.append(header, banner, log, typing, form);
  root.append(launcher, panel);

  function applyLanguage() {
    t = TEXTS[lang];
    launcher.setAttribute("aria-label", t.open);
    title.textContent = state.settings.title || t.title;
    humanButton.textContent = t.human;
    area.placeholder = t.placeholder;
    emailInput.placeholder = t.email;
    sendButton.textContent = t.send;
  }

  function applySettings(settings) {
    state.settings = settings || {};
    host.style.setProperty("--c", state.settings.color || "#1f6feb");
    host.style.setProperty("--tc", state.settings.text_color || "#ffffff");
    applyLanguage();
  }
  applySettings({});

  function showError(text) {
    errorLine.textContent = text || "";
    errorLine.hidden = !text;
  }

  function setOpen(open) {
    state.open = open;
    store.set("open", open);
    panel.hidden = !open;
    if (open) {
      badge.hidden = true;
      badge.textContent = "0";
      area.focus();
      sendRead();
      log.scrollTop = log.scrollHeight;
    }
  }
  launcher.addEventListener("click", () => setOpen(panel.hidden));
  closeButton.addEventListener("click", () => setOpen(false));

  // ---- rendering ------------------------------------------------------------------------------
  function statusText(m) {
    if (m.pending) return t.sending;
    return "";
  }

  function renderMessage(m, latest) {
    const mine = m.author === "visitor";
    const bot = m.author === "bot";
    if (m.author === "system" && !m.text) return null;
    const row = el("div", {
      class: "row" + (mine ? " mine" : "") + (bot ? " bot" : ""),
      "data-message": String(m.id || ""),
      "data-author": m.author || "",
    });
    if (m.client_id) row.setAttribute("data-client-id", m.client_id);
    if (!mine) {
      const initials = bot ? t.bot.slice(0, 1) : m.agent_initials || "•";
      row.appendChild(el("div", { class: "avatar", title: bot ? t.bot : m.agent_name || "" }, initials));
    }
    const column = el("div");
    const who = bot ? t.bot : m.agent_name;
    if (!mine && who) column.appendChild(el("div", { class: "who" }, who));
    const bubble = el("div", { class: "bubble" });
    if (m.text) bubble.appendChild(document.createTextNode(m.text));
    for (const f of m.files || []) {
      const url = BASE + f.url;
      if (/^image\/(png|jpeg|gif|webp)$/.test(f.type)) {
        const link = el("a", { href: url, target: "_blank", rel: "noopener" });
        link.appendChild(el("img", { src: url, alt: f.name }));
        bubble.appendChild(link);
      } else {
        bubble.appendChild(el("div"));
        bubble.lastChild.appendChild(el("a", { href: url, target: "_blank", rel: "noopener" }, f.name));
      }
    }
    if (m.pendingFile) bubble.appendChild(el("div", {}, m.pendingFile));
    column.appendChild(bubble);
    // The bot's quick replies ("did this help?") while they are the last word in the chat.
    if (latest && bot && (m.buttons || []).length) {
      const quick = el("div", { class: "quick", "data-quick": "" });
      for (const [label] of m.buttons) {
        const button = el("button", { type: "button" }, label);
        button.addEventListener("click", () => sendText(label, null));
        quick.appendChild(button);
      }
      column.appendChild(quick);
    }
    const meta = el("div", { class: "meta", "data-status": "" });
    if (mine) {
      meta.textContent = m.pending ? t.sending : m.status === "read" ? "✓✓" : "✓";
      meta.title = m.pending ? t.sending : t.sent;
    } else {
      meta.textContent = statusText(m);
    }
    column.appendChild(meta);
    row.appendChild(column);
    return row;
  }

  function sorted() {
    return Array.from(state.messages.values()).sort((a, b) => {
      if (a.id && b.id) return a.id - b.id;
      if (a.id) return -1;
      if (b.id) return 1;
      return (a.at || 0) - (b.at || 0);
    });
  }

  function render() {
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.replaceChildren();
    const greeting = state.settings.greeting || t.greeting;
    log.appendChild(renderMessage({ author: "agent", text: greeting, agent_initials: "•" }));
    const all = sorted();
    all.forEach((m, i) => {
      const row = renderMessage(m, i === all.length - 1);
      if (row) log.appendChild(row);
    });
    for (const note of state.notes || []) log.appendChild(el("div", { class: "system" }, note));
    if (atBottom || !state.rendered) log.scrollTop = log.scrollHeight;
    state.rendered = true;
  }

  function note(text) {
    state.notes = (state.notes || []).concat([text]);
    render();
  }

  function lastId() {
    let max = 0;
    for (const m of state.messages.values()) if (m.id && m.id > max) max = m.id;
    return max;
  }

  function addMessage(m, quiet) {
    if (m.client_id) state.messages.delete("c:" + m.client_id);
    const known = state.messages.has(m.id);
    state.messages.set(m.id, m);
    if (!known && !quiet && m.author !== "visitor") {
      typing.textContent = "";
      if (!state.open || document.hidden) {
        badge.textContent = String(Number(badge.textContent || 0) + 1);
        badge.hidden = false;
      }
    }
    store.set("last", lastId());
  }

  function renderOffline() {
    const reason = state.offline;
    const needEmail = !!reason && !state.email;
    emailInput.hidden = !needEmail;
    emailInput.required = needEmail;
    banner.hidden = !reason;
    banner.textContent = reason === "closed" ? t.closed : reason ? t.offline : "";
    if (reason && state.email) banner.textContent = t.emailSaved + state.email;
  }

  // ---- the connection -------------------------------------------------------------------------
  async function post(path, body) {
    const response = await fetch(BASE + path, {
      method: "POST",
      headers: { "Content-Type": "text/plain;charset=UTF-8" }, // a simple request: no preflight
      body: JSON.stringify(body),
      credentials: "omit",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error((data.error && data.error.message) || "error"), { data });
    return data;
  }

  function identityClaim() {
    const d = script.dataset;
    const given = (window.OporaChatIdentity || {});
    const claim = {
      id: given.id || d.identityId || "",
      email: given.email || d.identityEmail || "",
      name: given.name || d.identityName || "",
      signature: given.signature || d.identitySignature || "",
    };
    return claim.signature ? claim : null;
  }

  async function startSession() {
    const data = await post("/widget/v1/session", {
      channel: CHANNEL,
      token: state.token || undefined,
      language: pageLang,
      identity: identityClaim() || undefined,
    });
    if (data.token !== state.token) {
      // A new visitor (first visit, or a token the desk no longer knows): old state is moot.
      state.messages.clear();
      state.outbox = [];
      store.set("outbox", []);
    }
    state.token = data.token;
    store.set("token", data.token);
    lang = data.language === "en" ? "en" : "ru";
    applySettings(data.settings);
    state.offline = data.offline;
    state.email = data.email;
    state.identity = data.identity;
    for (const m of data.messages) addMessage(m, true);
    const stored = new Set(data.messages.map((m) => m.client_id).filter(Boolean));
    for (const m of state.outbox) if (!stored.has(m.client_id)) showPending(m);
    renderOffline();
    render();
    host.setAttribute("data-ready", "");
  }

  function connect() {
    const url = BASE.replace(/^http/, "ws") + "/widget/v1/ws";
    const socket = new WebSocket(url);
    state.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "hello", channel: CHANNEL, token: state.token, after_id: lastId() }));
    };
    socket.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      handle(frame);
    };
    socket.onclose = (event) => {
      state.ready = false;
      if (state.socket !== socket) return;
      state.socket = null;
      if (event.code === 4401) {
        // The desk forgot this visitor: start over with a new session.
        state.token = null;
        store.set("token", null);
        startSession().then(connect, scheduleReconnect);
        return;
      }
      banner.hidden = false;
      banner.textContent = t.reconnecting;
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    // Exponential back-off with jitter, so that a desk restart is not met by every visitor at once.
    const delay = Math.min(15000, 500 * 2 ** state.attempts) * (0.5 + Math.random() / 2);
    state.attempts += 1;
    setTimeout(connect, delay);
  }
  window.addEventListener("online", () => {
    if (!state.socket) {
      state.attempts = 0;
      connect();
    }
  });

  function send(frame) {
    if (state.socket && state.ready && state.socket.readyState === 1) {
      state.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function flushOutbox() {
    for (const m of state.outbox) {
      send({ type: "message", client_id: m.client_id, text: m.text, email: m.email || undefined });
    }
  }

  function handle(frame) {
    switch (frame.type) {
      case "ready":
        state.ready = true;
        state.attempts = 0;
        state.offline = frame.offline;
        // A receipt sent on the last socket may have died with it: report again what is unread.
        state.readSent = new Set();
        for (const m of frame.messages) addMessage(m, true);
        renderOffline();
        render();
        flushOutbox();
        sendRead();
        host.setAttribute("data-connected", "");
        break;
      case "ack":
        state.outbox = state.outbox.filter((m) => m.client_id !== frame.client_id);
        store.set("outbox", state.outbox);
        {
          const pending = state.messages.get("c:" + frame.client_id);
          if (pending) pending.pending = false;
        }
        render();
        break;
      case "message":
        addMessage(frame.message);
        render();
        if (frame.message.author !== "visitor") sendRead();
        break;
      case "read":
        for (const id of frame.message_ids || []) {
          const m = state.messages.get(id);
          if (m) m.status = "read";
        }
        render();
        break;
      case "typing":
        typing.textContent = (frame.name || "") + " " + t.typing;
        clearTimeout(state.typingTimer);
        state.typingTimer = setTimeout(() => (typing.textContent = ""), (frame.expires_in || 8) * 1000);
        break;
      case "human":
        note(t.humanDone);
        break;
      case "error":
        if (frame.client_id) {
          state.outbox = state.outbox.filter((m) => m.client_id !== frame.client_id);
          store.set("outbox", state.outbox);
          state.messages.delete("c:" + frame.client_id);
          render();
        }
        showError(frame.message || t.error);
        break;
      default:
        break;
    }
  }

  function sendRead() {
    if (!state.open || document.hidden) return;
    // The ids themselves, not "everything up to the highest": a reply with a lower id may
    // commit later and must not count as read before it is on the screen.
    const ids = [];
    for (const m of state.messages.values()) {
      if (!m.id || m.author === "visitor" || m.status === "read" || m.status === "failed") continue;
      if (!state.readSent.has(m.id)) ids.push(m.id);
    }
    for (let i = 0; i < ids.length; i += READ_BATCH) {
      const batch = ids.slice(i, i + READ_BATCH);
      if (!send({ type: "read", message_ids: batch })) return;
      for (const id of batch) state.readSent.add(id);
    }
  }
  document.addEventListener("visibilitychange", sendRead);

  function showPending(m) {
    state.messages.set("c:" + m.client_id, {
      author: "visitor",
      text: m.text,
      client_id: m.client_id,
      pending: true,
      pendingFile: m.file,
      at: m.at,
    });
  }

  // ---- composing ------------------------------------------------------------------------------
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    showError("");
    const text = area.value.trim();
    if (!text) return;
    let email = null;
    if (state.offline && !state.email) {
      email = emailInput.value.trim();
      if (!email || !emailInput.checkValidity()) {
        showError(t.emailNeeded);
        emailInput.focus();
        return;
      }
      state.email = email;
      renderOffline();
    }
    area.value = "";
    showSuggestions([]);
    sendText(text, email);
  });

  function sendText(text, email) {
    const m = { client_id: clientId(), text: text, email: email, at: Date.now() };
    state.outbox.push(m);
    store.set("outbox", state.outbox);
    showPending(m);
    render();
    send({ type: "message", client_id: m.client_id, text: m.text, email: m.email || undefined });
  }

  // Knowledge-base articles for what the visitor is typing, as links to the help portal.
  function showSuggestions(articles) {
    suggestBox.replaceChildren();
    suggestBox.hidden = !articles.length;
    if (!articles.length) return;
    suggestBox.appendChild(el("div", {}, t.suggest));
    for (const a of articles) {
      suggestBox.appendChild(el("a", { href: a.url, target: "_blank", rel: "noopener" }, a.title));
    }
  }
  let suggestTimer = null;
  let suggestSeq = 0;
  function suggestSoon() {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(async () => {
      const q = area.value.trim();
      const seq = ++suggestSeq;
      if (q.length < 3) return showSuggestions([]);
      try {
        const query = new URLSearchParams({ channel: CHANNEL, q: q.slice(0, 200), language: lang });
        const response = await fetch(BASE + "/widget/v1/suggest?" + query, { credentials: "omit" });
        const data = await response.json();
        // A slower answer to an older query must not replace a newer one.
        if (seq === suggestSeq && response.ok) showSuggestions(data.articles || []);
      } catch (e) {
        /* suggestions are a convenience: the chat works without them */
      }
    }, 300);
  }
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  let lastTyping = 0;
  area.addEventListener("input", () => {
    if (Date.now() - lastTyping > 3000 && send({ type: "typing" })) lastTyping = Date.now();
    suggestSoon();
  });
  humanButton.addEventListener("click", () => {
    if (!send({ type: "human" })) showError(t.reconnecting);
  });
  attachButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    showError("");
    const limit = state.settings.upload_max_bytes || 5 * 1024 * 1024;
    if (file.size > limit) {
      showError(t.tooLarge.replace("{n}", String(Math.round(limit / 1048576))));
      return;
    }
    const types = state.settings.upload_types || [];
    if (types.length && types.indexOf(file.type) < 0) {
      showError(t.badType);
      return;
    }
    const m = { client_id: clientId(), text: "", file: file.name, at: Date.now() };
    showPending(m);
    render();
    const body = new FormData();
    body.append("channel", CHANNEL);
    body.append("token", state.token);
    body.append("client_id", m.client_id);
    body.append("file", file, file.name);
    try {
      const response = await fetch(BASE + "/widget/v1/upload", { method: "POST", body: body, credentials: "omit" });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error((data.error && data.error.message) || t.error);
      const pending = state.messages.get("c:" + m.client_id);
      if (pending) pending.pending = false;
      render();
    } catch (e) {
      state.messages.delete("c:" + m.client_id);
      render();
      showError(e.message || t.error);
    }
  });

  // Keep idle connections alive through proxies that drop silent sockets after a minute.
  setInterval(() => send({ type: "ping" }), 25000);

  window.OporaChat = {
    open: () => setOpen(true),
    close: () => setOpen(false),
  };

  function mount() {
    document.body.appendChild(host);
    setOpen(state.open);
    startSession()
      .then(connect)
      .catch(() => {
        banner.hidden = false;
        banner.textContent = t.reconnecting;
        setTimeout(mount, 5000);
        host.remove();
      });
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
