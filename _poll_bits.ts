// poll(2)'s event bits (Linux values), shared by the readiness engine and
// the backends that answer readiness themselves.

/** There is data to read. */
export const POLLIN = 0x001;
/** Urgent data to read. */
export const POLLPRI = 0x002;
/** Writing will not block. */
export const POLLOUT = 0x004;
/** Normal data to read (reported with `POLLIN` on sockets). */
export const POLLRDNORM = 0x040;
/** Normal data may be written (reported with `POLLOUT` on sockets). */
export const POLLWRNORM = 0x100;
/**
 * Priority data may be written (reported with `POLLOUT` on unix and
 * datagram sockets, not on TCP ones).
 */
export const POLLWRBAND = 0x200;
/** An error is pending (always reported). */
export const POLLERR = 0x008;
/** Hung up (always reported). */
export const POLLHUP = 0x010;
/** The descriptor is not open (always reported). */
export const POLLNVAL = 0x020;
/** The peer shut down its writing side. */
export const POLLRDHUP = 0x2000;

// What a Deno-backend socket's change concerns, as Linux's wakeup key: an
// edge-triggered watch reports after a change whose key holds an event it
// watches (or POLLERR, POLLHUP).

/** Data came (a read, an accept, a datagram). */
export const WAKE_INPUT: number = POLLIN | POLLRDNORM;
/** A write completed: room to write. */
export const WAKE_OUTPUT: number = POLLOUT | POLLWRNORM | POLLWRBAND;
/** A state change (EOF, an error, a shutdown, a close): every watch. */
export const WAKE_ALL = -1;
/** A call took what the socket held: no event, as Linux's read makes none. */
export const WAKE_NONE = 0;
