// Bundled into a page by e2e/react.test.mjs: useJobProgress rendered by React DOM, driven by an
// in-page fake socket (no stack needed). window.harness lets the test play the server.

import { createElement, useState } from "react";
import { createRoot } from "react-dom/client";

import { JobcastClient, type SocketLike } from "../../src/client.js";
import { JobcastProvider, useConnectionStatus, useJobProgress } from "../../src/react.js";

class PageSocket implements SocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onclose: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  readonly sent: string[] = [];
  constructor(readonly url: string) {
    sockets.push(this);
  }
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 3;
  }
}

const sockets: PageSocket[] = [];
const client = new JobcastClient({
  httpUrl: "http://api.invalid",
  wsUrl: "ws://ws.invalid/dev",
  getToken: () => "token",
  WebSocket: PageSocket,
});

function Job(props: { jobId: string }) {
  const { progress, message, done, error } = useJobProgress(props.jobId);
  return createElement(
    "p",
    { id: `job-${props.jobId}`, "data-progress": progress, "data-done": String(done) },
    `${progress}% ${message}${error ? ` (${error})` : ""}`,
  );
}

function Status() {
  const status = useConnectionStatus();
  return createElement("p", { id: "status" }, status.state);
}

function App() {
  const [showFirst, setShowFirst] = useState(true);
  harness.hideFirst = () => setShowFirst(false);
  return createElement(
    JobcastProvider,
    { client },
    createElement(Status),
    showFirst ? createElement(Job, { jobId: "j1" }) : null,
    createElement(Job, { jobId: "j2" }),
  );
}

const harness = {
  client,
  hideFirst: () => {},
  open(): void {
    const socket = sockets.at(-1);
    if (!socket) throw new Error("no socket");
    socket.readyState = 1;
    socket.onopen?.({});
  },
  push(message: unknown): void {
    sockets.at(-1)?.onmessage?.({ data: JSON.stringify(message) });
  },
  sent(): unknown[] {
    return sockets.flatMap((s) => s.sent.map((m) => JSON.parse(m) as unknown));
  },
};
(window as unknown as { harness: typeof harness }).harness = harness;

const root = document.getElementById("root");
if (!root) throw new Error("#root missing");
createRoot(root).render(createElement(App));
client.connect();
