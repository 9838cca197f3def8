// The live feed of the caller's orders: one WebSocket (GET /api/events/stream) opened with
// a short-lived feed token (a browser cannot send a key on a WebSocket). It resumes after
// the last feed id it saw, and reconnects on its own, with backoff, whenever the socket
// closes (a server restart, a network cut); `onState` tells the page.

import { api } from "./api.js";

const BACKOFF_MS = [250, 500, 1000, 2000, 3000];

export class Feed {
  constructor({ onHello, onEvent, onState }) {
    this.onHello = onHello;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.failures = 0;
    this.socket = null;
    this.stopped = false;
    this.timer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.close(1000);
  }

  async connect() {
    this.onState("connecting");
    let token;
    try {
      token = (await api("/api/events/token", { method: "POST" })).token;
    } catch (err) {
      if (err.status === 401) return;  // the login form takes over
      this.retry();
      return;
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const params = new URLSearchParams({ token });
    if (this.lastId) params.set("after", this.lastId);
    const socket = new WebSocket(`${scheme}://${location.host}/api/events/stream?${params}`);
    this.socket = socket;
    socket.onmessage = (message) => this.receive(JSON.parse(message.data));
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (!this.stopped) this.retry();
    };
  }

  receive(message) {
    if (message.type === "hello") {
      this.failures = 0;
      this.onState("live");
      this.onHello(message, { resumed: this.lastId !== null });
    } else if (message.type === "event") {
      this.lastId = message.id;
      this.onEvent(message);
    }
  }

  retry() {
    const wait = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    this.failures += 1;
    this.onState("disconnected", wait);
    this.timer = setTimeout(() => this.connect(), wait);
  }
}
