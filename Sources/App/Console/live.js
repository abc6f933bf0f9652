// Follows the tenant's events over GET /v1/ws. A browser cannot set `Authorization` on a
// WebSocket, so the token goes in the first frame, as the API provides. No gap: the socket starts
// from the newest sequence `/health/ready` reported before the page read anything (the API replays
// what came after it), and after a drop it reconnects from the last sequence it got.

import { session } from "./api.js";

export function follow({ onEvent, onState, onRefused }) {
  let socket = null;
  let since = null;
  let stopped = false;
  let delay = 1000;
  let timer = null;
  const connect = async () => {
    if (since === null) since = await newestSequence();
    if (stopped) return;
    const url = new URL("/v1/ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (since) url.searchParams.set("since", String(since));
    socket = new WebSocket(url);
    onState("connecting");
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ token: session.token }));
      delay = 1000;
      onState("live");
    });
    socket.addEventListener("message", (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch { return; }
      if (Number.isInteger(event.sequence)) since = event.sequence;
      onEvent(event);
    });
    socket.addEventListener("close", (close) => {
      socket = null;
      if (stopped) return;
      if (close.code === 1008 && /^AMS-20[123]/.test(close.reason)) { onRefused(); return; }
      const named = /since=(\d+)/.exec(close.reason || "");
      if (named) since = Number(named[1]);
      if (close.code === 4000) { since = null; onEvent({ event: "resync" }); }
      onState("offline");
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (socket) socket.close(1000);
  };
}

/** The newest event sequence the service knows, or null. */
async function newestSequence() {
  try {
    const ready = await (await fetch("/health/ready")).json();
    const sequence = ready.components?.notifier?.sequence;
    return Number.isInteger(sequence) ? sequence : null;
  } catch {
    return null;
  }
}
