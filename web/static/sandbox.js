// The sandbox's web chat (sandbox/chat.py): keeps the chat, its reply keyboard and the seat list
// up to date by asking /sandbox/view, which answers once something changed, and turns what the
// person does (type, tap, send a photo or a location) into POSTs. The server renders every piece
// of HTML, escaped; this script only places it.
"use strict";

(function () {
  const body = document.body;
  const seat = body.dataset.seat;
  let version = Number(body.dataset.version);
  const $ = (id) => document.getElementById(id);
  const messages = $("messages");
  let toastTimer = null;
  let atEnd = true;  // the chat is scrolled to its end

  function toast(text, alert) {
    const box = $("toast");
    if (!text) return;
    if (alert) { window.alert(text); return; }
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  async function post(path, data) {
    atEnd = true;  // what the person does, and the bot's answer, show at the end
    const options = { method: "POST", headers: { "X-Loa-Sandbox": "1" } };
    if (data instanceof FormData) {
      options.body = data;
    } else {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(data || {});
    }
    let answer = {};
    try {
      const response = await fetch(path, options);
      answer = await response.json();
    } catch (error) {
      answer = { error: String(error) };
    }
    if (answer.error) toast(answer.error, false);
    return answer;
  }

  const seatPath = (what) => `/sandbox/seats/${encodeURIComponent(seat)}/${what}`;

  // Replying: to a message the person chose, or to the bot's question that asks for a reply.
  let replyTo = null;
  let forcedReply = null;
  function replyMode(message) {
    replyTo = message ? message.dataset.message : null;
    $("reply-bar").hidden = !message;
    $("reply-preview").textContent = message ? message.dataset.preview : "";
  }

  // The chat stays scrolled to its end, as long as the person has not scrolled up; photos that
  // load later make it taller.
  // photos that load later make it taller, and the bars and keyboard below it make it shorter.
  const toEnd = () => { if (atEnd) messages.scrollTop = messages.scrollHeight; };
  messages.addEventListener("scroll", () => {
    atEnd = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
  });
  messages.addEventListener("load", toEnd, true);
  new ResizeObserver(toEnd).observe(messages);

  function show(parts) {
    messages.innerHTML = parts.chat;
    $("keyboard").innerHTML = parts.keyboard;
    $("residents").innerHTML = parts.residents;
    $("staff").innerHTML = parts.staff;
    $("unread-elsewhere").textContent = parts.unread;
    $("unread-elsewhere").hidden = !parts.unread;
    toEnd();
    version = parts.version;
    followQuestion();
  }

  // On a phone the seat list hides behind a button at the top.
  const seatsToggle = $("seats-toggle");
  seatsToggle.addEventListener("click", () => {
    const open = body.classList.toggle("seats-open");
    seatsToggle.setAttribute("aria-expanded", String(open));
  });

  function followQuestion() {
    const last = messages.querySelector(".msg:last-of-type");
    const asking = last && last.dataset.forceReply ? last.dataset.message : null;
    if (asking && asking !== forcedReply) replyMode(last);
    forcedReply = asking;
  }

  async function follow() {
    for (;;) {
      try {
        const response = await fetch(`/sandbox/view?seat=${encodeURIComponent(seat)}&v=${version}`);
        if (response.status === 404) { window.location.href = "/"; return; }  // a seat of an earlier run
        if (!response.ok) throw new Error(response.statusText);
        show(await response.json());
      } catch (error) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  }

  // ------------------------------------------------------------ buttons

  messages.addEventListener("click", async (event) => {
    const reply = event.target.closest("button.reply");
    if (reply) { replyMode(reply.closest(".msg")); $("text").focus(); return; }
    const button = event.target.closest("button.button");
    if (!button) return;
    button.disabled = true;
    const answer = await post(seatPath("tap"), { message: button.dataset.message, text: button.dataset.text });
    button.disabled = false;
    toast(answer.toast, answer.alert);
    if (answer.url) window.open(answer.url, "_blank", "noopener");
  });

  $("keyboard").addEventListener("click", async (event) => {
    const key = event.target.closest("button.key");
    if (!key) return;
    if (key.dataset.location) { openMap(key.dataset.text); return; }
    await post(seatPath("tap"), { text: key.dataset.text });
  });

  // ------------------------------------------------------------ typing

  // A photo or a file waits in the bar above the message box, which then holds its caption, until
  // Send (as in Telegram, where a picked photo opens a box with a caption field).
  const composer = $("composer");
  const input = $("text");
  let attachment = null;  // {route: "photo" | "document", file: File | null (the sample photo)}
  function attach(route, chosen) {
    attachment = route ? { route, file: chosen } : null;
    $("attachment-bar").hidden = !attachment;
    const name = $("attachment-name");
    name.textContent = !attachment ? "" : chosen ? (route === "photo" ? "📷 " : "📄 ") + chosen.name : name.dataset.sample;
    input.placeholder = attachment ? input.dataset.caption : input.dataset.message;
    input.focus();
  }

  let sending = false;  // a second tap on Send while the first is on its way sends nothing more
  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (sending) return;
    sending = true;
    try { await send(); } finally { sending = false; }
  });

  async function send() {
    const text = input.value.trim();
    let answer;
    if (attachment) {
      const form = new FormData();
      if (attachment.file) form.append(attachment.route, attachment.file);
      if (text) form.append("caption", text);
      if (replyTo) form.append("reply_to", replyTo);
      answer = await post(seatPath(attachment.route), form);
      if (answer.ok) attach(null);
    } else {
      if (!text) return;
      answer = await post(seatPath("text"), { text, reply_to: replyTo });
    }
    if (answer.ok) { input.value = ""; replyMode(null); }  // on an error the text stays, to be sent again
    input.focus();
  }

  // The two menus over the message box: the commands, and what to attach.
  const menus = [$("commands"), $("attach-menu")].filter(Boolean);
  function toggleMenu(menu) {
    for (const other of menus) other.hidden = other !== menu || !menu.hidden;
  }
  if ($("commands")) {
    $("open-commands").addEventListener("click", () => toggleMenu($("commands")));
    $("commands").addEventListener("click", async (event) => {
      const command = event.target.closest("button.command");
      if (!command) return;
      toggleMenu(null);
      await post(seatPath("text"), { text: command.dataset.command });
    });
  }
  $("open-attach").addEventListener("click", () => toggleMenu($("attach-menu")));
  $("attach-menu").addEventListener("click", () => toggleMenu(null));
  document.addEventListener("click", (event) => {  // a tap anywhere else closes them
    if (!event.target.closest("#commands, #attach-menu, #open-commands, #open-attach")) toggleMenu(null);
  });

  // ------------------------------------------------------------ photos and files

  for (const [button, picker, route] of [["attach-photo", "photo-file", "photo"], ["attach-file", "any-file", "document"]]) {
    $(button).addEventListener("click", () => $(picker).click());
    $(picker).addEventListener("change", () => {
      if ($(picker).files.length) attach(route, $(picker).files[0]);
      $(picker).value = "";
    });
  }
  $("sample-photo").addEventListener("click", () => attach("photo", null));
  $("attachment-cancel").addEventListener("click", () => attach(null));
  $("reply-cancel").addEventListener("click", () => replyMode(null));

  // ------------------------------------------------------------ locations

  const panel = $("map-panel");
  const sendButton = $("map-send");
  let picked = null;
  let buttonText = "";

  async function openMap(text) {
    buttonText = text || "";
    panel.hidden = false;
    const holder = $("map");
    if (!holder.querySelector("svg")) {
      holder.textContent = holder.dataset.loading;
      const response = await fetch("/sandbox/map.svg");
      holder.innerHTML = await response.text();
      window.LoaMap.attach(holder.querySelector("svg"), (point) => {
        picked = point;
        $("map-choice").textContent = (point.name ? point.name + " · " : "") +
          point.latitude.toFixed(5) + ", " + point.longitude.toFixed(5);
        sendButton.disabled = false;
      }, { titles: { zoomIn: holder.dataset.zoomIn, zoomOut: holder.dataset.zoomOut, reset: holder.dataset.reset } });
    }
  }

  $("open-map").addEventListener("click", () => openMap(""));
  $("map-close").addEventListener("click", () => { panel.hidden = true; });
  sendButton.addEventListener("click", async () => {
    if (!picked) return;
    const answer = await post(seatPath("location"),
      { latitude: picked.latitude, longitude: picked.longitude, text: buttonText });
    if (answer.ok) panel.hidden = true;
  });

  // ------------------------------------------------------------ a new resident

  $("new-resident").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target));
    const answer = await post("/sandbox/people", data);
    if (answer.seat) window.location.href = `/?seat=${encodeURIComponent(answer.seat)}`;
  });

  toEnd();
  followQuestion();
  follow();
})();
