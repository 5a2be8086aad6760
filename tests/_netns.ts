// Network namespaces for tests that must not touch the machine's own
// network: multicast routes, ping_group_range, link-local addresses. Each
// namespace is made for one test and deleted when it is disposed, on every
// path; children run inside it with `ip netns exec`.
import { withTimeout } from "./_python.ts";

const decoder = new TextDecoder();

/**
 * Run `cmd` to completion, its output captured.
 *
 * @param cmd The program.
 * @param args Its arguments.
 * @returns What it printed, and how it exited.
 */
export function run(cmd: string, args: string[]): Deno.CommandOutput {
  return new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
}

/**
 * Why namespaces cannot be made here, or `null` when they can: not Linux,
 * not root, no `--allow-run`, or no `ip` (iproute2).
 */
export const netnsMissing: string | null = (() => {
  if (Deno.build.os !== "linux") return "network namespaces need Linux";
  try {
    if (Deno.uid() !== 0) return "network namespaces need root";
  } catch {
    return "no --allow-sys to check for root";
  }
  try {
    const out = run("ip", ["netns", "list"]);
    if (!out.success) return `ip netns fails: ${decoder.decode(out.stderr)}`;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "ip (iproute2) is missing";
    return "no --allow-run";
  }
  return null;
})();

/** What a child printed, and how it ended. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** A network namespace, deleted on dispose. */
export interface NetNs extends Disposable {
  readonly name: string;
  /** `ip -n NAME ...args`; throws with ip's message when it fails. */
  ip(...args: string[]): void;
  /** `sysctl -w` inside the namespace. */
  sysctl(setting: string): void;
  /** Run `cmd` inside the namespace, bounded by `ms`; killed if it runs over. */
  exec(cmd: string[], ms?: number): Promise<Ran>;
}

let made = 0;

/** A fresh namespace with `lo` up. */
export function netns(): NetNs {
  const name = `pysock-test-${Deno.pid}-${made++}`;
  const check = (out: Deno.CommandOutput, what: string) => {
    if (!out.success) {
      throw new Error(`${what} failed: ${decoder.decode(out.stderr).trim()}`);
    }
  };
  check(run("ip", ["netns", "add", name]), `ip netns add ${name}`);
  const ns: NetNs = {
    name,
    ip(...args) {
      check(run("ip", ["-n", name, ...args]), `ip ${args.join(" ")}`);
    },
    sysctl(setting) {
      check(
        run("ip", ["netns", "exec", name, "sysctl", "-qw", setting]),
        `sysctl ${setting}`,
      );
    },
    async exec(cmd, ms = 20_000) {
      const child = new Deno.Command("ip", {
        args: ["netns", "exec", name, ...cmd],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const output = child.output();
      try {
        const out = await withTimeout(output, ms, cmd.join(" "));
        return {
          code: out.code,
          stdout: decoder.decode(out.stdout),
          stderr: decoder.decode(out.stderr),
        };
      } catch (e) {
        try {
          child.kill("SIGKILL");
        } catch {
          // It ended meanwhile.
        }
        await output.catch(() => {});
        throw e;
      }
    },
    [Symbol.dispose]() {
      run("ip", ["netns", "delete", name]);
    },
  };
  try {
    ns.ip("link", "set", "lo", "up");
  } catch (e) {
    ns[Symbol.dispose]();
    throw e;
  }
  return ns;
}

/**
 * A child Deno script importing the module from this checkout: written to
 * a temp file (removed on dispose), so that it runs with exactly the
 * permissions given to `deno run`, which `deno eval` would not allow.
 */
export interface Script extends Disposable {
  readonly path: string;
}

/**
 * Write `body` as a script whose `S` is this checkout's `mod.ts`.
 *
 * @param body TypeScript using `S` (the module) and top-level await.
 */
export function script(body: string): Script {
  const dir = Deno.makeTempDirSync({ prefix: "pysock-child-" });
  const path = `${dir}/child.ts`;
  const mod = new URL("../mod.ts", import.meta.url).href;
  Deno.writeTextFileSync(path, `import * as S from "${mod}";\n${body}\n`);
  return {
    path,
    [Symbol.dispose]() {
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

/** A namespace with a veth pair, 10.99.0.1 and fd00:99::1 on mc0, multicast routed there. */
export function multicastNs(): NetNs {
  const ns = netns();
  try {
    ns.ip("link", "add", "mc0", "type", "veth", "peer", "name", "mc1");
    ns.ip("link", "set", "mc1", "up");
    ns.ip("link", "set", "mc0", "up");
    ns.ip("addr", "add", "10.99.0.1/24", "dev", "mc0");
    ns.ip("-6", "addr", "add", "fd00:99::1/64", "dev", "mc0", "nodad");
    ns.ip("route", "add", "224.0.0.0/4", "dev", "mc0");
    return ns;
  } catch (e) {
    ns[Symbol.dispose]();
    throw e;
  }
}
