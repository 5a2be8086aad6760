// Deno removes a unix listener's socket file when the listener's resource is
// dropped, and an accept in flight (readiness keeps one) delays that until
// the event loop next turns. A listener made on the same path meanwhile, as
// a program that closes a server and starts another does, would lose its
// file to that removal. This keeps the paths whose removal is still to come,
// and gives a listener made on one its name back.
import { resolveUnixPath } from "../_address.ts";

const removals = new Map<string, Promise<void>>();
// Links made and not yet put back or removed: removed if the process ends
// first, so that none is left behind.
const links = new Set<string>();
let unloadHooked = false;

function forget(link: string): void {
  links.delete(link);
  try {
    Deno.removeSync(link);
  } catch {
    // Gone already: nothing is left behind.
  }
}

/**
 * A listener on `path` closed with an accept in flight: Deno removes the
 * file once that accept has ended, which `accepting` settling says.
 *
 * @param path The listener's path (not an abstract name).
 * @param accepting The accept in flight.
 */
export function removalPending(
  path: string,
  accepting: Promise<unknown>,
): void {
  const done = accepting.then(() => {}, () => {});
  const k = resolveUnixPath(path);
  removals.set(k, done);
  done.then(() => {
    if (removals.get(k) === done) removals.delete(k);
  });
}

/**
 * A listener was just made on `path`: where an older listener's removal of
 * the path is still to come, a hard link keeps the new file, and once the
 * removal has happened it goes back to the path, if the new listener is
 * still open (`alive`). Without the permissions to make the link (Deno's
 * read and write of the directory), nothing is done.
 *
 * @param path The new listener's path.
 * @param alive Whether the new listener is still open.
 */
export function keepName(path: string, alive: () => boolean): void {
  const removal = removals.get(resolveUnixPath(path));
  if (removal === undefined) return;
  const slash = path.lastIndexOf("/");
  const keep = `${path.slice(0, slash + 1)}.${
    path.slice(slash + 1)
  }.${crypto.randomUUID()}.keep`;
  try {
    for (const name of ["read", "write"] as const) {
      for (const p of [path, keep]) {
        if (Deno.permissions.querySync({ name, path: p }).state !== "granted") {
          return;
        }
      }
    }
    Deno.linkSync(path, keep);
  } catch {
    return;
  }
  links.add(keep);
  if (!unloadHooked) {
    unloadHooked = true;
    globalThis.addEventListener("unload", () => {
      for (const link of [...links]) forget(link);
    });
  }
  removal.then(() => {
    // A link, not a rename: it never replaces what is at the path now.
    if (alive()) {
      try {
        Deno.linkSync(keep, path);
      } catch {
        // The path is there (the file was not removed, or another took
        // its place): left as it is.
      }
    }
    forget(keep);
  });
}
