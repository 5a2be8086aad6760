// The Deno backend: TCP and unix stream sockets (stream.ts) and UDP (udp.ts)
// on Deno's own networking, and its socketpair().
import { AF_UNIX, errno as E, SOCK_DGRAM, SOCK_STREAM } from "../constants.ts";
import { OSError, PermissionError } from "../errors.ts";
import type { Backend, BackendSocket } from "../_backend.ts";
import { LIBC_HINT, translate } from "./common.ts";
import { DenoStream } from "./stream.ts";
import { DenoUdp } from "./udp.ts";

/** Deno's own networking as a backend. */
export const denoBackend: Backend = {
  name: "deno",
  // chooseBackend() sends only TCP, UDP and unix stream sockets here.
  open(family: number, type: number, _proto: number): BackendSocket {
    return type === SOCK_DGRAM ? new DenoUdp(family) : new DenoStream(family);
  },
  async socketpair(
    family: number,
    type: number,
    _proto: number,
  ): Promise<[BackendSocket, BackendSocket]> {
    if (family !== AF_UNIX || type !== SOCK_STREAM) {
      throw new OSError(E.EOPNOTSUPP, `socketpair() of this type ${LIBC_HINT}`);
    }
    // An abstract name: nothing on disk to clean up, and gone with the listener.
    const path = `\0deno-socketpair-${crypto.randomUUID()}`;
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ transport: "unix", path });
    } catch (e) {
      const error = translate(e);
      // Deno names the pair's random abstract name, which no scoped flag
      // can grant: say what to run with instead.
      if (!(error instanceof PermissionError)) throw error;
      throw new PermissionError(
        E.EACCES,
        "socketpair() on the Deno backend needs --allow-net (Deno joins " +
          "the pair through an abstract unix name), or use " +
          'socketpair(..., { backend: "libc" }) (needs --allow-ffi)',
        { cause: e },
      );
    }
    try {
      const [a, b] = await Promise.all([
        Deno.connect({ transport: "unix", path }),
        listener.accept(),
      ]);
      return [
        new DenoStream(AF_UNIX, a).anonymous(),
        new DenoStream(AF_UNIX, b).anonymous(),
      ];
    } catch (e) {
      throw translate(e);
    } finally {
      listener.close();
    }
  },
};
