// Run by waits_heap_test.ts with --v8-flags=--expose-gc: calls that wait
// on an idle socket and give up (find nothing, time out, are aborted, or a
// stream reader lets go), and a stream reader that reads chunk after chunk,
// again and again on one socket, on the backend named by argv[0]. Prints
// {case: heap bytes kept per call}: a wait that left something on a
// long-lived promise (the socket's read, accept or receive in flight, a
// reader's lock) grows the heap with every call.
import {
  AF_INET,
  BlockingIOError,
  create_server,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
  socket,
  TimeoutError,
} from "../mod.ts";

const backend = Deno.args[0] as "deno" | "libc";
const gc = (globalThis as { gc?: () => void }).gc!;

async function heap(): Promise<number> {
  // A turn of the event loop first: what waits for it (a libc poller's
  // call in flight) is not counted as kept.
  await new Promise((resolve) => setTimeout(resolve, 20));
  gc();
  return Deno.memoryUsage().heapUsed;
}

function given(e: unknown): void {
  if (
    !(e instanceof BlockingIOError) && !(e instanceof TimeoutError) &&
    !(e instanceof DOMException)
  ) throw e;
}

function aborted<T>(call: (signal: AbortSignal) => Promise<T>): Promise<void> {
  const ac = new AbortController();
  const p = call(ac.signal).then(() => {}, given);
  ac.abort();
  return p;
}

async function tcpPair(): Promise<[Socket, Socket]> {
  using srv = create_server(["127.0.0.1", 0]);
  const a = socket(AF_INET, SOCK_STREAM, 0, { backend });
  const accepted = srv.accept();
  await a.connect(srv.getsockname());
  const [b] = await accepted;
  return [a, b];
}

type Setup = [call: () => Promise<void>, sockets: Socket[]];
type Case = [calls: number, setup: () => Setup | Promise<Setup>];

const cases: Record<string, Case> = {
  "non-blocking recv": [3000, async () => {
    const [a, b] = await tcpPair();
    a.setblocking(false);
    return [() => a.recv(64).then(() => {}, given), [a, b]];
  }],
  "recv with a timeout": [600, async () => {
    const [a, b] = await tcpPair();
    a.settimeout(0.0001);
    return [() => a.recv(64).then(() => {}, given), [a, b]];
  }],
  "recv aborted": [3000, async () => {
    const [a, b] = await tcpPair();
    return [() => aborted((signal) => a.recv(64, { signal })), [a, b]];
  }],
  "non-blocking accept": [3000, () => {
    const srv = socket(AF_INET, SOCK_STREAM, 0, { backend });
    srv.bind(["127.0.0.1", 0]);
    srv.listen();
    srv.setblocking(false);
    return [() => srv.accept().then(() => {}, given), [srv]];
  }],
  "non-blocking recvfrom (UDP)": [3000, () => {
    const u = socket(AF_INET, SOCK_DGRAM, 0, { backend });
    u.bind(["127.0.0.1", 0]);
    u.setblocking(false);
    return [() => u.recvfrom(64).then(() => {}, given), [u]];
  }],
  "reader released": [1500, async () => {
    const [a, b] = await tcpPair();
    return [async () => {
      const reader = a.readable.getReader();
      const read = reader.read().then(() => {}, () => {});
      reader.releaseLock();
      await read;
    }, [a, b]];
  }],
  // Not a wait that gives up, but one reader holding its lock for good:
  // each chunk's pull must leave nothing on what lasts as long as it.
  "reader.read() of chunks": [3000, async () => {
    const [a, b] = await tcpPair();
    const reader = a.readable.getReader();
    const chunk = new Uint8Array(16);
    return [async () => {
      await b.sendall(chunk);
      await reader.read();
    }, [a, b]];
  }],
};

const kept: Record<string, number> = {};
for (const [name, [calls, setup]] of Object.entries(cases)) {
  const [call, socks] = await setup();
  // Measured over a second round: what the first one grew once (timer
  // lists, caches) is not counted.
  for (let i = 0; i < calls; i++) await call();
  const before = await heap();
  for (let i = 0; i < calls; i++) await call();
  kept[name] = Math.round((await heap() - before) / calls);
  for (const s of socks) s.close();
}
console.log(JSON.stringify(kept));
