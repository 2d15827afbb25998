// The terminal's touch UI. It shows what the server says: amounts are parsed, cards read and
// authorised, and the signature's idle rule decided on the server (one implementation, in the
// receipt core); this page only collects input and draws.
"use strict";
(function () {
  // The per-launch token comes in the launch URL's fragment (#token=...), never in the page, so
  // a program that fetches "/" does not learn it. It is kept for this tab and taken out of the
  // address bar.
  const TOKEN = (function () {
    const m = /(?:^#|&)token=([0-9a-f]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem("ereceipt-ui-token", m[1]);
      history.replaceState(null, "", location.pathname + location.search);
      return m[1];
    }
    return sessionStorage.getItem("ereceipt-ui-token") || "";
  })();
  // Opening the launch URL again in this tab changes only the fragment: start over with it.
  window.addEventListener("hashchange", () => { if (/token=/.test(location.hash)) location.reload(); });
  const DEMO = document.querySelector('meta[name="ereceipt-demo"]').content === "true";
  const TEXT = window.EReceiptText;
  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem("ereceipt-lang") || (document.documentElement.lang.startsWith("zh") ? "zh" : "en");
  let config = null;
  let screen = "amount";
  let sale = null; // {id, amount, symbol, card, approval}
  let lastError = {}; // element id -> server error, re-rendered on language change

  function t(key, vars) {
    let s = (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace("{" + k + "}", v);
    return s;
  }

  function applyLanguage() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-label]").forEach((el) => el.setAttribute("aria-label", t(el.dataset.i18nLabel)));
    document.querySelectorAll("[data-i18n-alt]").forEach((el) => el.setAttribute("alt", t(el.dataset.i18nAlt)));
    $("lang-toggle").textContent = t("lang_button");
    updateRecipientLabel();
    updateResendLabel();
    renderReprint();
    renderSettle();
    for (const [id, err] of Object.entries(lastError)) showError(id, err);
    if (sale && sale.card) fillSignFacts();
    if (sale && sale.status) renderStatus(sale.status);
    renderOutbox();
    renderAuthorisations();
    renderOperator();
    renderOperation();
    if (sale && sale.operation && screen === "swipe") $("swipe-amount").textContent = opLine(sale.operation) + " · " + sale.symbol + " " + sale.amount + " " + sale.currency;
  }

  function message(err) {
    if (!err) return "";
    if (typeof err === "string") return err;
    return (lang === "zh" ? err.message_zh : err.message_en) || err.message_en || "";
  }
  function showError(id, err) {
    if (err) lastError[id] = err; else delete lastError[id];
    $(id).textContent = message(err);
  }

  async function api(method, path, body) {
    const opts = { method, headers: { "x-ereceipt-ui-token": TOKEN } };
    if (body !== undefined) {
      opts.headers["content-type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, opts);
    } catch (e) {
      throw { message_en: TEXT.en.network.replace("{e}", e.message), message_zh: TEXT.zh.network.replace("{e}", e.message) };
    }
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw data;
    return data;
  }

  function show(name) {
    if (screen === "swipe" && name !== "swipe") swipeBuffer = "";
    if (screen === "result" && name !== "result") stopStatusPolling();
    if (screen === "settle" && name !== "settle") stopSettlePolling();
    screen = name;
    document.querySelectorAll(".screen").forEach((s) => { s.hidden = s.id !== "screen-" + name; });
    renderOperator();
    const title = document.querySelector("#screen-" + name + " h1");
    if (title) title.focus();
    if (name === "sign") sizePad();
    if (name === "operator") $("operator").focus();
  }

  // ---- operator sign-in (签到) and sign-out (签退) ---------------------------------------
  function renderOperator() {
    const op = config && config.operator;
    $("operator-line").hidden = !op;
    if (op) $("operator-line").textContent = t("operator_line", { op });
    // Signing out is for between sales.
    $("sign-out").hidden = !op || !(screen === "amount" || screen === "result");
    $("reprint-open").hidden = !op || !(screen === "amount" || screen === "result");
    $("settle-open").hidden = !op || !(screen === "amount" || screen === "result");
  }
  function needSignIn(err) {
    if (config) config.operator = null;
    showError("operator-error", err);
    show("operator");
  }
  $("operator-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    showError("operator-error", null);
    try {
      const r = await api("POST", "/api/operator", { operator: $("operator").value.trim() });
      config.operator = r.operator;
      digits = ""; renderAmount(); show("amount");
    } catch (err) { showError("operator-error", err); }
  });
  $("sign-out").addEventListener("click", async () => {
    try { await api("DELETE", "/api/operator"); } catch (_) { /* signed out here either way */ }
    sale = null; digits = ""; renderAmount(); $("operator").value = "";
    needSignIn(null);
  });

  // ---- amount -------------------------------------------------------------------------
  let digits = "";
  function renderAmount() {
    const exp = config ? config.exponent : 2;
    const d = digits.replace(/^0+/, "").padStart(exp + 1, "0");
    const whole = exp ? d.slice(0, -exp) : d;
    const grouped = whole.replace(/\B(?=(\d{3})+$)/g, ",");
    const text = exp ? grouped + "." + d.slice(-exp) : grouped;
    $("amount-display").textContent = (config ? config.symbol + " " : "") + text;
  }
  function key(k) {
    showError("amount-error", null);
    if (k === "back") digits = digits.slice(0, -1);
    else if (digits.length < 12) digits = (digits + k).replace(/^0+/, "").slice(0, 12);
    renderAmount();
  }
  // ---- the operation: sale, void (by voucher), refund (RRN + date), pre-auth, completion --
  function operation() { return document.querySelector('input[name="operation"]:checked').value; }
  function renderOperation() {
    const op = operation();
    $("original-fields").hidden = !(op === "void" || op === "refund" || op === "completion");
    document.querySelectorAll("#original-fields [data-for]").forEach((p) => { p.hidden = !p.dataset.for.split(" ").includes(op); });
    // A void takes its original's whole amount: no keypad.
    const keyed = op !== "void";
    document.querySelector("#screen-amount .keypad").hidden = !keyed;
    $("amount-display").hidden = !keyed;
    $("amount-clear").hidden = !keyed;
    $("amount-next").textContent = t("go_" + op);
  }
  document.querySelectorAll('input[name="operation"]').forEach((r) => r.addEventListener("change", () => { showError("amount-error", null); renderOperation(); }));
  function opLine(o) {
    if (!o) return "";
    let line = (lang === "zh" ? o.kind_zh : o.kind);
    const g = o.original;
    if (g) {
      const parts = [];
      if (g.voucher) parts.push(t("f_orig_voucher") + " " + g.voucher);
      if (g.rrn) parts.push(t("f_orig_rrn") + " " + g.rrn);
      if (g.auth_code) parts.push(t("f_orig_auth") + " " + g.auth_code);
      parts.push(g.date);
      line += " · " + parts.join(" · ");
    }
    return line;
  }
  function startBody() {
    const op = operation();
    const body = { operation: op };
    if (op !== "void") body.amount = digits;
    if (op === "void") body.voucher = $("orig-voucher").value.trim();
    if (op === "refund") body.rrn = $("orig-rrn").value.trim();
    if (op === "completion") body.auth_code = $("orig-auth").value.trim().toUpperCase();
    if (op === "refund" || op === "completion") body.date = $("orig-date").value;
    return body;
  }
  function resetOperation() {
    document.querySelector('input[name="operation"][value="sale"]').checked = true;
    ["orig-voucher", "orig-rrn", "orig-auth", "orig-date"].forEach((id) => { $(id).value = ""; });
    renderOperation();
  }

  async function charge() {
    if (!digits && operation() !== "void") { showError("amount-error", { message_en: TEXT.en.amount_zero, message_zh: TEXT.zh.amount_zero }); return; }
    try {
      const r = await api("POST", "/api/sales", startBody());
      sale = { id: r.sale, amount: r.amount, symbol: r.symbol, currency: r.currency, operation: r.operation };
      $("swipe-amount").textContent = opLine(r.operation) + " · " + r.symbol + " " + r.amount + " " + r.currency;
      $("swipe-status").textContent = t("swipe_waiting");
      showError("swipe-error", null);
      show("swipe");
    } catch (e) {
      if (e && e.error === "sign_in_required") { needSignIn(e); return; }
      showError("amount-error", e);
    }
  }
  document.querySelectorAll("[data-key]").forEach((b) => b.addEventListener("click", () => key(b.dataset.key)));
  $("amount-clear").addEventListener("click", () => { digits = ""; renderAmount(); });
  $("amount-next").addEventListener("click", charge);

  // ---- swipe: the reader types; no visible field --------------------------------------
  let swipeBuffer = "";
  let swipeTimer = null;
  let swiping = false;
  function swipeKey(e) {
    if (e.key === "Escape") { e.preventDefault(); cancelSale("swipe-error"); return; }
    if (swiping) { e.preventDefault(); return; }
    if (e.key === "Enter") {
      if (!swipeBuffer) return; // a focused button's Enter
      e.preventDefault();
      swipeBuffer += "\r";
    } else if (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      if (swipeBuffer.length < 4096) swipeBuffer += e.key;
      $("swipe-status").textContent = t("swipe_reading");
    } else {
      return;
    }
    clearTimeout(swipeTimer);
    // A reader types a whole swipe in well under a second; a pause after Enter ends it.
    swipeTimer = setTimeout(submitSwipe, swipeBuffer.endsWith("\r") ? 150 : 800);
  }
  async function submitSwipe(testCard) {
    const raw = swipeBuffer;
    swipeBuffer = "";
    if (!testCard && raw.trim().length < 10) { $("swipe-status").textContent = t("swipe_waiting"); return; }
    swiping = true;
    showError("swipe-error", null);
    $("swipe-status").textContent = t("authorising", { name: config.authoriser.simulator ? "SIMULATOR" : config.authoriser.name });
    try {
      const r = await api("POST", "/api/sales/" + sale.id + "/card", testCard ? { test_card: true } : { swipe: raw });
      sale.card = r.card;
      sale.approval = r.approval || null;
      sale.operation = r.operation || sale.operation;
      sale.authoriser = r.authoriser;
      fillSignFacts();
      startSigning();
    } catch (e) {
      $("swipe-status").textContent = t("swipe_waiting");
      showError("swipe-error", e);
    } finally { swiping = false; }
  }
  // The server forgets the sale; an approved one is voided first (it keeps its journal row
  // until the acquirer acknowledged the void, and the alert shows it meanwhile).
  async function cancelSale(errorId) {
    if (sale) {
      try { await api("POST", "/api/sales/" + sale.id + "/cancel"); }
      catch (e) {
        if (e.error !== "not_found") {
          if (errorId) { showError(errorId, e); checkOutbox(); }
          if (e.error !== "void_pending") return;
        }
      }
    }
    sale = null; digits = ""; renderAmount(); resetOperation(); show("amount");
  }
  $("swipe-cancel").addEventListener("click", () => cancelSale("swipe-error"));
  $("test-card").addEventListener("click", () => submitSwipe(true));

  // ---- signature ---------------------------------------------------------------------
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  let queue = [];
  let inFlight = false;
  let penDown = false;
  let padState = { state: "waiting" };
  let pollTimer = null;
  let flushTimer = null;
  let lastPoint = null;
  let clearOnNextDown = false;

  function fillSignFacts() {
    $("sign-operation").textContent = opLine(sale.operation);
    const credit = sale.operation && (sale.operation.kind === "VOID" || sale.operation.kind === "REFUND");
    $("sign-amount").textContent = (credit ? "-" : "") + sale.symbol + " " + sale.amount;
    const last4 = sale.card.number.split(" ").pop();
    $("sign-card").textContent = (lang === "zh" ? sale.card.brand_zh : sale.card.brand) + " •••• " + last4;
    // A refund's advice goes out after the signature: its codes come on the receipt.
    $("sign-codes").hidden = !sale.approval;
    $("sign-advice").hidden = !!sale.approval;
    $("sign-auth").textContent = sale.approval ? sale.approval.auth_code : "";
    $("sign-rrn").textContent = sale.approval ? sale.approval.rrn : "";
    const note = $("authoriser-note");
    note.hidden = !sale.authoriser.simulator;
    note.textContent = t("simulator_note");
  }
  function sizePad() {
    const r = pad.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    pad.width = Math.round(r.width * ratio);
    pad.height = Math.round(r.height * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#111";
  }
  function clearPad() { ctx.clearRect(0, 0, pad.width, pad.height); lastPoint = null; }
  function startSigning() {
    queue = []; padState = { state: "waiting" }; clearOnNextDown = false;
    show("sign");
    clearPad();
    renderPad();
  }
  function at(e) {
    const r = pad.getBoundingClientRect();
    return {
      type: "", pointerType: e.pointerType || "mouse",
      x: Math.round((e.clientX - r.left) * 10) / 10, y: Math.round((e.clientY - r.top) * 10) / 10,
      time: Math.round(performance.timeOrigin + e.timeStamp),
      pressure: typeof e.pressure === "number" ? e.pressure : 0.5,
    };
  }
  function draw(p, type) {
    ctx.lineWidth = 1.5 + 2.5 * (p.pointerType === "mouse" ? 0.5 : p.pressure);
    if (type === "down" || !lastPoint) { ctx.beginPath(); ctx.arc(p.x, p.y, ctx.lineWidth / 2, 0, 7); ctx.fill(); }
    else { ctx.beginPath(); ctx.moveTo(lastPoint.x, lastPoint.y); ctx.lineTo(p.x, p.y); ctx.stroke(); }
    lastPoint = type === "up" ? null : p;
  }
  function pointer(type, e) {
    if (screen !== "sign" || padState.state === "finished") return;
    if (type !== "down" && !penDown) return;
    e.preventDefault();
    if (type === "down") {
      if (clearOnNextDown) { clearPad(); clearOnNextDown = false; showError("sign-error", null); }
      penDown = true;
      try { pad.setPointerCapture(e.pointerId); } catch (_) { /* synthetic events may lack an id */ }
    }
    if (type === "up") penDown = false;
    const p = at(e);
    p.type = type;
    draw(p, type);
    queue.push(p);
    if (type === "move") { if (!flushTimer) flushTimer = setTimeout(flush, 40); } else flush();
  }
  pad.addEventListener("pointerdown", (e) => pointer("down", e));
  pad.addEventListener("pointermove", (e) => pointer("move", e));
  pad.addEventListener("pointerup", (e) => pointer("up", e));
  pad.addEventListener("pointercancel", (e) => pointer("up", e));

  async function flush() {
    clearTimeout(flushTimer); flushTimer = null;
    if (inFlight || !sale) return;
    inFlight = true;
    const events = queue; queue = [];
    try {
      padState = await api("POST", "/api/sales/" + sale.id + "/signature", { now: Date.now(), events });
      showError("sign-error", null);
    } catch (e) { showError("sign-error", e); }
    inFlight = false;
    renderPad();
    if (queue.length) flush();
  }
  function renderPad() {
    clearTimeout(pollTimer); pollTimer = null;
    const s = padState;
    const bar = $("sign-countdown-bar");
    const status = $("sign-status");
    if (s.state === "signing") {
      const frac = s.pen_down ? 1 : s.idle_remaining_ms / s.idle_ms;
      bar.style.width = (frac * 100).toFixed(1) + "%";
      status.textContent = s.pen_down ? t("sign_drawing") : t("sign_idle", { s: (s.idle_remaining_ms / 1000).toFixed(1) });
      status.dataset.state = s.pen_down ? "drawing" : "idle";
      // Ask the server again; it alone decides when the idle time is over.
      if (!s.pen_down && screen === "sign") pollTimer = setTimeout(flush, 100);
    } else if (s.state === "finished") {
      bar.style.width = "0%";
      status.textContent = t("sign_done");
      status.dataset.state = "finished";
      if (screen === "sign") goDeliver();
    } else if (s.state === "rejected") {
      bar.style.width = "0%";
      status.textContent = t("sign_waiting");
      status.dataset.state = "rejected";
      showError("sign-error", { message_en: s.reason_en, message_zh: s.reason_zh });
      clearOnNextDown = true;
    } else {
      bar.style.width = "100%";
      status.textContent = t("sign_waiting");
      status.dataset.state = "waiting";
    }
  }
  async function clearSignature() {
    try {
      padState = await api("POST", "/api/sales/" + sale.id + "/signature/clear");
      queue = []; penDown = false; clearPad(); showError("sign-error", null); renderPad();
    } catch (e) { showError("sign-error", e); }
  }
  $("sign-clear").addEventListener("click", clearSignature);
  $("sign-cancel").addEventListener("click", () => { clearTimeout(pollTimer); cancelSale("sign-error"); });

  // ---- delivery choice -----------------------------------------------------------------
  function channel() { return document.querySelector('input[name="channel"]:checked').value; }
  function updateRecipientLabel() {
    const email = channel() === "email";
    $("recipient-label").textContent = t(email ? "to_email" : "to_phone");
    $("recipient").setAttribute("inputmode", email ? "email" : "tel");
    $("recipient").setAttribute("placeholder", email ? "name@example.com" : "+8613800138000");
  }
  function goDeliver() {
    showError("recipient-error", null);
    show("deliver");
    updateRecipientLabel();
  }
  let validateTimer = null;
  async function validate() {
    const to = $("recipient").value;
    if (!to.trim()) { showError("recipient-error", null); $("recipient").removeAttribute("aria-invalid"); return true; }
    try {
      await api("POST", "/api/delivery", { channel: channel(), to });
      showError("recipient-error", null);
      $("recipient").removeAttribute("aria-invalid");
      return true;
    } catch (e) {
      showError("recipient-error", e);
      $("recipient").setAttribute("aria-invalid", "true");
      return false;
    }
  }
  document.querySelectorAll('input[name="channel"]').forEach((r) => r.addEventListener("change", () => { updateRecipientLabel(); validate(); }));
  $("recipient").addEventListener("input", () => { clearTimeout(validateTimer); validateTimer = setTimeout(validate, 400); });
  $("deliver-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    clearTimeout(validateTimer);
    const send = $("send");
    send.disabled = true;
    showError("recipient-error", { message_en: TEXT.en.making, message_zh: TEXT.zh.making });
    try {
      const r = await api("POST", "/api/sales/" + sale.id + "/complete", { channel: channel(), to: $("recipient").value });
      showError("recipient-error", null);
      sale.channel = channel();
      if (r.state === "advice_pending") { showAdvicePending(r); return; }
      sale.receipt = r.receipt;
      showResult(r.status);
    } catch (err) {
      showError("recipient-error", err);
      if (err.field) $("recipient").setAttribute("aria-invalid", "true");
      $("recipient").focus();
    } finally { send.disabled = false; }
  });
  $("sign-again").addEventListener("click", async () => { await clearSignature(); startSigning(); });

  // ---- result ----------------------------------------------------------------------------
  let statusTimer = null;
  let polls = 0;
  function stopStatusPolling() { clearTimeout(statusTimer); statusTimer = null; }
  function showResult(status) {
    $("result-id").textContent = sale.receipt;
    $("receipt-image").src = "/api/receipts/" + encodeURIComponent(sale.receipt) + "/image?token=" + encodeURIComponent(TOKEN);
    polls = 0;
    renderStatus(status);
    show("result");
    pollStatus();
  }
  // A refund sent and not acknowledged yet: the terminal sends it again and makes its receipt
  // when the host acknowledges it; nothing more for the cashier to do.
  function showAdvicePending(r) {
    sale.receipt = null;
    sale.status = { state: "advice_pending", authorisation: r.authorisation };
    $("result-id").textContent = r.authorisation;
    $("receipt-image").removeAttribute("src");
    renderStatus(sale.status);
    show("result");
  }
  function renderStatus(s) {
    if (!s) return;
    if (s.state === "advice_pending") {
      sale.status = s;
      $("result-state").textContent = t("st_advice_pending");
      $("result-state").dataset.state = s.state;
      $("result-detail").textContent = t("st_advice_pending_detail");
      return;
    }
    sale.status = s;
    const el = $("result-state");
    const ch = t("ch_name_" + (s.channel || sale.channel || "email"));
    let title, detail;
    if (s.state === "queued") { title = t("st_queued"); detail = t("st_queued_detail"); }
    else if (s.state === "uploaded" && (s.channel || sale.channel) === "pull") { title = t("st_pull"); detail = t("st_pull_detail"); }
    else if (s.state === "uploaded") { title = t("st_uploaded"); detail = t("st_uploaded_detail"); }
    else if (s.state === "delivered") { title = t("st_delivered", { channel: ch }); detail = t("st_delivered_detail", { channel: ch }); }
    else if (s.state === "delivery_failed") { title = t("st_failed"); detail = t("st_failed_detail"); }
    else { title = t("st_refused"); detail = t("st_refused_detail", { e: s.error || "" }); checkOutbox(); }
    el.textContent = title;
    el.dataset.state = s.state;
    $("result-detail").textContent = detail;
  }
  async function pollStatus() {
    stopStatusPolling();
    if (screen !== "result" || !sale) return;
    try {
      const s = await api("GET", "/api/receipts/" + encodeURIComponent(sale.receipt));
      renderStatus(s);
      if (s.state === "delivered" || s.state === "delivery_failed" || s.state === "refused") return;
      if (s.state === "uploaded" && (s.channel || sale.channel) === "pull") return;
    } catch (_) { /* keep the last state shown */ }
    polls += 1;
    statusTimer = setTimeout(pollStatus, polls < 120 ? 1000 : 5000);
  }
  // ---- refused receipts: an alert on every screen while the outbox holds any ---------------
  let outboxState = null;
  function renderOutbox() {
    const o = outboxState;
    const box = $("refused-alert");
    if (!o || !o.refused) { box.hidden = true; return; }
    $("refused-title").textContent = t("alert_refused", { n: o.refused });
    $("refused-detail").textContent = t("alert_refused_detail");
    const list = $("refused-list");
    list.replaceChildren(...o.refused_receipts.map((r) => {
      const li = document.createElement("li");
      li.textContent = r.id + (r.error ? " — " + r.error : "");
      return li;
    }));
    box.hidden = false;
  }
  function renderAuthorisations() {
    const o = outboxState;
    const box = $("authorisation-alert");
    const open = (o && o.authorisations) || [];
    if (!open.length) { box.hidden = true; return; }
    $("authorisation-title").textContent = t("alert_auth", { n: open.length });
    $("authorisation-detail").textContent = t("alert_auth_detail");
    $("authorisation-list").replaceChildren(...open.map((a) => {
      const li = document.createElement("li");
      const codes = a.auth_code ? " · " + t("f_auth") + " " + a.auth_code + " · RRN " + a.rrn : "";
      li.textContent = a.currency + " " + a.amount + " · " + a.card + codes + " · " + t("auth_" + a.state) + " · " + a.id;
      return li;
    }));
    box.hidden = false;
  }
  async function checkOutbox() {
    try { outboxState = await api("GET", "/api/outbox"); renderOutbox(); renderAuthorisations(); } catch (_) { /* keep the last alert */ }
  }
  setInterval(checkOutbox, 10000);

  $("new-sale").addEventListener("click", () => { sale = null; digits = ""; renderAmount(); resetOperation(); show("amount"); });

  // ---- reprint (重打印) and resend (重发): the open batch's receipts, newest first -----------
  let reprint = null; // {list, chosen}
  function lineButton(r, label) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.receipt = r.id;
    b.setAttribute("aria-pressed", String(!!(reprint && reprint.chosen === r.id)));
    const kind = document.createElement("span");
    kind.textContent = (label ? label + " · " : "") + (lang === "zh" ? r.kind_zh : r.kind);
    const amount = document.createElement("span");
    amount.className = "line-amount";
    amount.textContent = r.amount;
    const facts = document.createElement("span");
    facts.className = "line-facts";
    facts.textContent = r.time + " · " + t("voucher") + " " + r.voucher;
    b.append(kind, amount, facts);
    b.addEventListener("click", () => chooseReprint(r.id));
    const li = document.createElement("li");
    li.append(b);
    return li;
  }
  function renderReprint() {
    if (!reprint || !reprint.list) return;
    const l = reprint.list;
    $("reprint-batch").textContent = l.receipts.length
      ? t("reprint_batch", { batch: l.open_batch, n: l.receipts.length })
      : t("reprint_empty", { batch: l.open_batch });
    const items = l.receipts.map((r) => lineButton(r));
    // The last receipt may be in a batch already settled: it is offered first all the same.
    if (l.last && !l.receipts.some((r) => r.id === l.last.id)) items.unshift(lineButton(l.last, t("reprint_last", { batch: l.last.batch })));
    $("reprint-list").replaceChildren(...items);
  }
  async function openReprint() {
    reprint = { list: null, chosen: null };
    $("reprint-chosen").hidden = true;
    $("reprint-list").replaceChildren();
    $("reprint-batch").textContent = "";
    showError("reprint-error", null);
    show("reprint");
    try { reprint.list = await api("GET", "/api/reprint"); renderReprint(); }
    catch (e) { showError("reprint-error", e); }
  }
  function chooseReprint(id) {
    reprint.chosen = id;
    showError("reprint-error", null);
    showError("resend-error", null);
    $("resend-status").textContent = "";
    delete $("resend-status").dataset.state;
    $("reprint-id").textContent = id;
    const img = $("reprint-image");
    delete img.dataset.loaded;
    img.onload = () => { img.dataset.loaded = id; };
    img.onerror = async () => {
      // The image's refusal (an unknown receipt, a renewed certificate) comes as JSON.
      try { await api("GET", "/api/reprint/" + encodeURIComponent(id) + "/image"); } catch (e) { showError("reprint-error", e); }
      $("reprint-chosen").hidden = true;
    };
    img.src = "/api/reprint/" + encodeURIComponent(id) + "/image?token=" + encodeURIComponent(TOKEN);
    $("reprint-chosen").hidden = false;
    renderReprint();
  }
  function resendChannel() { return document.querySelector('input[name="resend-channel"]:checked').value; }
  function updateResendLabel() {
    const email = resendChannel() === "email";
    $("resend-to-label").textContent = t(email ? "to_email" : "to_phone");
    $("resend-to").setAttribute("inputmode", email ? "email" : "tel");
    $("resend-to").setAttribute("placeholder", email ? "name@example.com" : "+8613800138000");
  }
  document.querySelectorAll('input[name="resend-channel"]').forEach((r) => r.addEventListener("change", updateResendLabel));
  $("resend-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!reprint || !reprint.chosen) return;
    const button = $("resend");
    const status = $("resend-status");
    button.disabled = true;
    showError("resend-error", null);
    $("resend-to").removeAttribute("aria-invalid");
    status.textContent = t("resend_sending");
    delete status.dataset.state;
    try {
      const ch = resendChannel();
      const r = await api("POST", "/api/reprint/" + encodeURIComponent(reprint.chosen) + "/resend", { channel: ch, to: $("resend-to").value });
      status.dataset.state = r.outcome;
      status.textContent = r.outcome === "queued"
        ? t("resend_queued", { channel: t("ch_name_" + r.channel), to: r.to, delivery: r.delivery })
        : t("resend_not_uploaded", { state: r.state });
    } catch (err) {
      status.textContent = "";
      showError("resend-error", err);
      if (err.field) $("resend-to").setAttribute("aria-invalid", "true");
    } finally { button.disabled = false; }
  });
  $("reprint-open").addEventListener("click", openReprint);
  $("reprint-back").addEventListener("click", () => { reprint = null; show("amount"); });

  // ---- settlement (结算): the open batch's lines, closing it with the host, its slip --------
  let settle = null; // {preview, done, upload}
  let settlePoll = null;
  function stopSettlePolling() { if (settlePoll) { clearTimeout(settlePoll); settlePoll = null; } }
  function settleRow(l) {
    const tr = document.createElement("tr");
    tr.dataset.kind = l.kind;
    tr.dataset.brand = l.brand;
    tr.dataset.currency = l.currency;
    const cells = [lang === "zh" ? l.kind_zh : l.kind, lang === "zh" ? l.brand_zh : l.brand, String(l.count), l.total];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i >= 2) td.className = "num";
      tr.appendChild(td);
    });
    return tr;
  }
  function renderSettle() {
    if (!settle) return;
    const d = settle.done;
    const lines = d ? d.lines : (settle.preview ? settle.preview.lines : []);
    $("settle-body").replaceChildren(...lines.map(settleRow));
    if (d) {
      $("settle-batch").textContent = t("settle_done_batch", { batch: d.batch, next: d.next_batch });
      $("settle-state").textContent = t(d.balanced ? "settle_balanced" : "settle_not_balanced");
      $("settle-state").dataset.balanced = String(d.balanced);
    } else if (settle.preview) {
      const p = settle.preview;
      $("settle-batch").textContent = p.lines.length
        ? t("settle_batch", { batch: p.batch, n: p.lines.length })
        : t("settle_empty", { batch: p.batch });
    }
    const u = settle.upload;
    const up = $("settle-upload");
    if (!u) { up.textContent = ""; delete up.dataset.state; return; }
    up.dataset.state = u.state;
    if (u.state === "uploaded" && u.reconciliation) {
      const n = u.reconciliation.differences.length;
      up.textContent = u.reconciliation.balanced && n === 0
        ? t("settle_uploaded_balanced")
        : t("settle_uploaded_differences", { n }) + (n ? ": " + u.reconciliation.differences.map((x) => x.text).join("; ") : "");
    } else if (u.state === "refused") up.textContent = t("settle_refused", { e: u.error || "" });
    else up.textContent = t("settle_queued");
  }
  async function openSettle() {
    settle = { preview: null, done: null, upload: null };
    stopSettlePolling();
    $("settle-body").replaceChildren();
    $("settle-batch").textContent = "";
    $("settle-state").textContent = "";
    delete $("settle-state").dataset.balanced;
    $("settle-upload").textContent = "";
    $("settle-slip").hidden = true;
    $("settle-confirm").hidden = false;
    $("settle-confirm").disabled = true;
    delete $("settle-image").dataset.loaded;
    showError("settle-error", null);
    show("settle");
    try {
      settle.preview = await api("GET", "/api/settlement");
      $("settle-confirm").disabled = false;
      renderSettle();
    } catch (e) { showError("settle-error", e); }
  }
  async function pollSettlement(batch) {
    settlePoll = null;
    if (!settle || !settle.done || settle.done.batch !== batch || screen !== "settle") return;
    try {
      settle.upload = await api("GET", "/api/settlements/" + batch);
      renderSettle();
      if (settle.upload.state === "uploaded" || settle.upload.state === "refused") return;
    } catch (_) { /* asked again below */ }
    settlePoll = setTimeout(() => pollSettlement(batch), 1000);
  }
  $("settle-confirm").addEventListener("click", async () => {
    if (!settle || settle.done) return;
    const button = $("settle-confirm");
    button.disabled = true;
    showError("settle-error", null);
    $("settle-state").textContent = t("settle_sending");
    try {
      const d = await api("POST", "/api/settlement");
      settle.done = d;
      settle.upload = { state: "queued" };
      button.hidden = true;
      const img = $("settle-image");
      delete img.dataset.loaded;
      img.onload = () => { img.dataset.loaded = d.batch; };
      img.src = "/api/settlements/" + d.batch + "/image?token=" + encodeURIComponent(TOKEN);
      $("settle-slip").hidden = false;
      renderSettle();
      pollSettlement(d.batch);
    } catch (err) {
      $("settle-state").textContent = "";
      button.disabled = false;
      showError("settle-error", err);
      if (err && err.error === "open_authorisations") checkOutbox();
    }
  });
  $("settle-open").addEventListener("click", openSettle);
  $("settle-back").addEventListener("click", () => { settle = null; stopSettlePolling(); show("amount"); });

  // ---- keyboard ------------------------------------------------------------------------
  document.addEventListener("keydown", (e) => {
    if (screen === "swipe") { swipeKey(e); return; }
    if (screen === "amount") {
      // Typing into the original's fields is typing, not the keypad.
      if (e.target instanceof HTMLInputElement && e.target.type !== "radio") {
        if (e.key === "Enter") { e.preventDefault(); charge(); }
        return;
      }
      if (/^[0-9]$/.test(e.key)) { e.preventDefault(); key(e.key); }
      else if (e.key === "Backspace") { e.preventDefault(); key("back"); }
      else if (e.key === "Escape") { digits = ""; renderAmount(); }
      else if (e.key === "Enter" && !(e.target instanceof HTMLButtonElement)) { e.preventDefault(); charge(); }
      return;
    }
    if (screen === "reprint" && e.key === "Escape") { e.preventDefault(); $("reprint-back").click(); return; }
    if (screen === "settle" && e.key === "Escape") { e.preventDefault(); $("settle-back").click(); return; }
    if (screen === "sign" && e.key === "Escape") { e.preventDefault(); clearSignature(); return; }
    if (screen === "deliver" && e.key === "Escape") { e.preventDefault(); $("sign-again").click(); return; }
    if (screen === "result" && e.key === "Enter" && !(e.target instanceof HTMLButtonElement)) { $("new-sale").click(); }
  });
  $("lang-toggle").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("ereceipt-lang", lang);
    applyLanguage();
  });
  window.addEventListener("resize", () => { if (screen === "sign") { sizePad(); lastPoint = null; } });

  // ---- start -----------------------------------------------------------------------------
  (async function init() {
    $("demo-banner").hidden = !DEMO;
    $("test-card").hidden = !DEMO;
    applyLanguage();
    try {
      config = await api("GET", "/api/config");
      $("merchant-name").textContent = config.merchant_name;
      $("terminal-id").textContent = config.terminal_id;
    } catch (e) { showError("amount-error", e); }
    await checkOutbox();
    renderAmount();
    show(config && !config.operator ? "operator" : "amount");
    document.body.dataset.ready = "true";
  })();
})();
