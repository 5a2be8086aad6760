// Readiness at scale, with lifetimes: a seeded fuzzer over 1,000 registered
// sockets (500 connected pairs, TCP and unix stream, every end on a random
// backend, so both backends mix in every watcher). Each socket is in a
// selector of a random kind and in an epoll object, and some in a second
// selector too (one socket registered in several watchers). Per step, random
// ends send random amounts, random idle ends are closed (unregistered first,
// or closed while registered and unregistered after, or closed by another
// task while a select() waits), and the watchers are asked until what is
// ready shows. Checks: (1) every socket with bytes or an EOF to read is
// reported by each watcher it is in, and none other (a closed one only where
// its kind reports a closed descriptor, never by epoll); (2) each reported
// one answers a non-blocking recv at once, its bytes intact and in order,
// none lost, none extra, EOF where its peer closed; (3) nothing is left
// ready once drained; (4) every call settles in time (no hang); (5) once
// the round has closed everything, the process's descriptors
// (/proc/self/fd) are back where they were before it. The sanitizers are
// on. About 20 s in all here. STREAMS_SEED replays a run's choices (not its
// timing); with it, STREAMS_ROUND=n runs round n alone. LIFETIMES_ROUNDS
// scales the rounds, LIFETIMES_PAIRS the population.
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_UNIX,
  BlockingIOError,
  OSError,
  SOCK_STREAM,
  type Socket,
  socket,
} from "../../mod.ts";
import * as select from "../../select.ts";
import * as selectors from "../../selectors.ts";
import {
  type BackendName,
  BACKENDS,
  skipNote,
  STEP_MS,
  unavailable,
  withTimeout,
} from "../_helpers.ts";
import {
  count,
  Dice,
  env,
  roundsFrom,
  seededRounds,
  seedOf,
  STREAMS_SEED,
  type Tally,
} from "./_load.ts";

/** Rounds per run (LIFETIMES_ROUNDS overrides). */
const ROUNDS = roundsFrom("LIFETIMES_ROUNDS", 40);
/** Connected pairs per round: twice as many registered sockets. */
const PAIRS = Number(env("LIFETIMES_PAIRS") ?? 500);
/** The most the run may take. */
const BOUND_MS = Number(env("LIFETIMES_BOUND_MS") ?? 45_000);
/** Steps of activity per round. */
const STEPS = 10;
/** How long a step's watchers may take to report all that is ready. */
const SHOW_MS = 3_000;

type SelName =
  | "DefaultSelector"
  | "SelectSelector"
  | "PollSelector"
  | "EpollSelector";
const SELECTORS: readonly SelName[] = [
  "DefaultSelector",
  "SelectSelector",
  "PollSelector",
  "EpollSelector",
];
// Whether a selector of this kind reports a socket closed while registered
// (poll(2) and select(2) do, as POLLNVAL / EBADF; epoll drops it).
const REPORTS_CLOSED: Record<SelName, boolean> = {
  DefaultSelector: false,
  SelectSelector: true,
  PollSelector: true,
  EpollSelector: false,
};

function openFds(): number {
  let n = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
  return n;
}

// A listener per backend and family, for one round.
interface Listeners {
  get(backend: BackendName, family: number): Socket;
  close(): void;
}

function listeners(dir: string): Listeners {
  const made = new Map<string, Socket>();
  return {
    get(backend, family) {
      const key = `${backend}/${family}`;
      let l = made.get(key);
      if (l === undefined) {
        l = socket(family, SOCK_STREAM, 0, { backend });
        l.bind(
          family === AF_UNIX ? `${dir}/${made.size}` : ["127.0.0.1", 0],
        );
        l.listen(1024);
        made.set(key, l);
      }
      return l;
    },
    close() {
      for (const l of made.values()) l.close();
    },
  };
}

interface End {
  readonly sock: Socket;
  readonly backend: BackendName;
  // Its descriptor number while open.
  readonly fd: number;
  peer: End;
  open: boolean;
  // Bytes sent to this end not read yet, in order; the byte is the step.
  owed: number[];
  // Its peer closed: EOF after the bytes owed.
  eof: boolean;
  // The watchers it is in.
  inFirst: boolean;
  inSecond: boolean;
  inEpoll: boolean;
}

async function round(seed: number, n: number, tally: Tally): Promise<void> {
  const dice = new Dice(seedOf(seed, n, 0));
  const dir = Deno.makeTempDirSync({ prefix: "pysock-" });
  const baseline = openFds();
  const ls = listeners(dir);
  const ends: End[] = [];
  const firstKind = dice.pick(SELECTORS);
  const secondKind = dice.pick(SELECTORS);
  const first = new selectors[firstKind]();
  const second = new selectors[secondKind]();
  const ep = select.epoll();
  try {
    for (let i = 0; i < PAIRS; i++) {
      const family = dice.chance(0.2) ? AF_UNIX : AF_INET;
      const lb = dice.pick(BACKENDS);
      const cb = dice.pick(BACKENDS);
      const l = ls.get(lb, family);
      const c = socket(family, SOCK_STREAM, 0, { backend: cb });
      const a: End = {
        sock: c,
        backend: cb,
        fd: c.fileno(),
        peer: null as unknown as End,
        open: true,
        owed: [],
        eof: false,
        inFirst: false,
        inSecond: false,
        inEpoll: false,
      };
      ends.push(a);
      await withTimeout(c.connect(l.getsockname()), STEP_MS, "connect");
      const [s] = await withTimeout(l.accept(), STEP_MS, "accept");
      const b: End = {
        ...a,
        sock: s,
        backend: lb,
        fd: s.fileno(),
        peer: a,
        owed: [],
      };
      a.peer = b;
      ends.push(b);
      count(tally, `${lb}-${cb} ${family === AF_UNIX ? "unix" : "tcp"}`);
    }
    ls.close();
    for (const e of ends) {
      first.register(e.sock, selectors.EVENT_READ, e);
      ep.register(e.sock, select.EPOLLIN);
      e.inFirst = e.inEpoll = true;
      if (dice.chance(0.3)) {
        second.register(e.sock, selectors.EVENT_READ, e);
        e.inSecond = true;
      }
    }
    const forget = (e: End, only?: SelName): void => {
      if (e.inFirst && (only === undefined || only === firstKind)) {
        first.unregister(e.sock);
        e.inFirst = false;
      }
      if (e.inSecond && (only === undefined || only === secondKind)) {
        second.unregister(e.sock);
        e.inSecond = false;
      }
      if (e.inEpoll && only === undefined) {
        e.inEpoll = false;
        if (e.open) {
          ep.unregister(e.sock);
        } else {
          // As python3's: a closed socket's fileno() is -1, and its number
          // is no descriptor any more (EBADF).
          assert.throws(
            () => ep.unregister(e.fd),
            (err: unknown) => err instanceof OSError && err.errno === 9,
          );
        }
      }
    };
    const shut = (e: End): void => {
      e.open = false;
      e.sock.close();
      if (e.peer.open) e.peer.eof = true;
    };
    for (let step = 0; step < STEPS; step++) {
      const open = ends.filter((e) => e.open);
      // Sends: to a random tenth, 1 byte to 8 KiB, each byte the step.
      for (const e of open) {
        if (!dice.chance(0.1) || !e.peer.open) continue;
        const size = 1 + dice.int(8192);
        await withTimeout(
          e.sock.sendall(new Uint8Array(size).fill(step)),
          STEP_MS,
          "sendall",
        );
        for (let i = 0; i < size; i++) e.peer.owed.push(step);
      }
      // Closes of idle ends (nothing unread: no reset), three ways.
      const closedWhileRegistered: End[] = [];
      const closedWhileWaiting: End[] = [];
      for (const e of open) {
        if (e.owed.length > 0 || e.eof || !dice.chance(0.02)) continue;
        const how = dice.int(3);
        if (how === 0) {
          forget(e);
          shut(e);
          count(tally, "closed unregistered");
        } else if (how === 1) {
          shut(e);
          closedWhileRegistered.push(e);
          count(tally, "closed registered");
        } else {
          closedWhileWaiting.push(e);
          count(tally, "closed while waiting");
        }
      }
      // select(2) fails with EBADF on a closed descriptor (as python3's
      // SelectSelector raises OSError 9): those leave it before it looks.
      for (const e of closedWhileRegistered) forget(e, "SelectSelector");
      if (closedWhileWaiting.length > 0) {
        const timer = setTimeout(() => {
          for (const e of closedWhileWaiting) shut(e);
        }, 5);
        try {
          await withTimeout(first.select(0.05), STEP_MS, "select()");
        } finally {
          clearTimeout(timer);
          for (const e of closedWhileWaiting) if (e.open) shut(e);
        }
      }
      const gone = [...closedWhileRegistered, ...closedWhileWaiting];
      for (const e of closedWhileWaiting) forget(e, "SelectSelector");
      // What must show: bytes owed or an EOF.
      const due = new Set(
        ends.filter((e) => e.open && (e.owed.length > 0 || e.eof)),
      );
      const check = (
        who: string,
        kind: SelName | "epoll",
        seen: Iterable<End>,
      ): void => {
        for (const e of seen) {
          if (due.has(e)) continue;
          const ok = gone.includes(e) && kind !== "epoll" &&
            REPORTS_CLOSED[kind];
          assert.ok(
            ok,
            `${who} (${kind}) reported a ${e.backend} socket with nothing to read (open ${e.open}) at step ${step}`,
          );
        }
      };
      const fromSelector = async (
        sel: selectors.BaseSelector,
        kind: SelName,
        who: string,
        wanted: (e: End) => boolean,
      ): Promise<void> => {
        const seen = new Set<End>();
        const started = Date.now();
        const want = [...due].filter(wanted);
        for (;;) {
          const got = await withTimeout(sel.select(0.05), STEP_MS, who);
          for (const [key, mask] of got) {
            assert.equal(mask, selectors.EVENT_READ);
            seen.add(key.data as End);
          }
          check(who, kind, seen);
          if (want.every((e) => seen.has(e))) return;
          if (Date.now() - started > SHOW_MS) {
            const missing = want.filter((e) => !seen.has(e));
            assert.fail(
              `${who} (${kind}) never reported ${missing.length} of ${want.length} ready sockets at step ${step}: ${
                missing.slice(0, 3).map((e) =>
                  `${e.backend} owed ${e.owed.length} eof ${e.eof}`
                ).join("; ")
              }`,
            );
          }
        }
      };
      await fromSelector(first, firstKind, "the selector", () => true);
      await fromSelector(
        second,
        secondKind,
        "the second selector",
        (e) => e.inSecond,
      );
      {
        const byFd = new Map(
          ends.filter((e) => e.open).map((e) => [e.sock.fileno(), e]),
        );
        const seen = new Set<End>();
        const started = Date.now();
        for (;;) {
          const got = await withTimeout(ep.poll(0.05), STEP_MS, "epoll");
          for (const [fd, events] of got) {
            const e = byFd.get(fd);
            assert.ok(e !== undefined, `epoll reported fd ${fd}, not open`);
            assert.ok(events & select.EPOLLIN, `epoll events ${events}`);
            seen.add(e);
          }
          check("epoll", "epoll", seen);
          if ([...due].every((e) => seen.has(e))) break;
          assert.ok(
            Date.now() - started < SHOW_MS,
            `epoll never reported ${
              [...due].filter((e) => !seen.has(e)).length
            } of ${due.size} ready sockets at step ${step}`,
          );
        }
      }
      for (const e of gone) forget(e);
      // Drain: each answers a non-blocking recv at once.
      for (const e of due) {
        e.sock.setblocking(false);
        while (e.owed.length > 0) {
          let got: Uint8Array;
          try {
            got = await withTimeout(e.sock.recv(65536), STEP_MS, "recv");
          } catch (err) {
            if (err instanceof BlockingIOError) {
              assert.fail(
                `a ${e.backend} socket reported readable said BlockingIOError with ${e.owed.length} bytes owed`,
              );
            }
            throw err;
          }
          assert.ok(got.length > 0, `EOF with ${e.owed.length} bytes owed`);
          assert.ok(got.length <= e.owed.length, "bytes never sent");
          const want = e.owed.splice(0, got.length);
          for (let i = 0; i < got.length; i++) {
            if (got[i] !== want[i]) {
              assert.fail(`byte ${i}: got ${got[i]}, sent ${want[i]}`);
            }
          }
          count(tally, "chunks read");
        }
        if (e.eof) {
          const last = await withTimeout(e.sock.recv(16), STEP_MS, "recv");
          assert.equal(last.length, 0, "bytes after the peer closed");
          forget(e);
          shut(e);
          count(tally, "EOF read");
        } else {
          e.sock.setblocking(true);
        }
      }
      const left = await withTimeout(first.select(0), STEP_MS, "select(0)");
      assert.deepEqual(
        left.map(([key]) => (key.data as End).backend),
        [],
        `ready after the drain at step ${step}`,
      );
      count(tally, "steps");
    }
  } finally {
    first.close();
    second.close();
    ep.close();
    ls.close();
    for (const e of ends) e.sock.close();
    Deno.removeSync(dir, { recursive: true });
  }
  // Deno closes its sockets' descriptors once the loop turns.
  const until = Date.now() + STEP_MS;
  while (openFds() > baseline && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(openFds(), baseline, "descriptors left open by the round");
}

const reason = Deno.build.os !== "linux"
  ? "needs /proc/self/fd (Linux)"
  : unavailable("libc");
Deno.test({
  name: skipNote(
    "lifetimes fuzz: 1,000 registered sockets of both backends in selectors and epoll, random sends and closes (also while registered and while select() waits): every ready one reported once ready, none other, nothing lost, no hang, descriptors back to baseline",
    reason,
  ),
  ignore: reason !== null,
  fn: async () => {
    const tally: Tally = {};
    await seededRounds({
      what: "lifetimes",
      rounds: ROUNDS,
      boundMs: BOUND_MS,
      tally,
      round: (n) => round(STREAMS_SEED, n, tally),
    });
  },
});
