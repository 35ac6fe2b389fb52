/**
 * A small StatsD client over UDP (node:dgram), made for a hot path that must never wait:
 * recording a metric only updates a table in memory; the table is flushed every
 * `interval` ms, its lines packed into as few datagrams as fit `maxPacket` bytes.
 *
 * Within one interval, counters with the same name are summed (`x:3|c`, not three lines),
 * a gauge keeps its last value, and every timer value is kept (StatsD computes percentiles
 * from them) up to `maxTimers`; values past that are dropped and counted in
 * `<prefix>.statsd.dropped`.
 *
 * Nothing here keeps the process alive (the socket and the timer are unref'd) and nothing
 * throws into the process: a send error is reported once through `onError`, until a send
 * succeeds again. The socket is opened at the first flush and closed by `close()`; a metric
 * recorded after `close()` (a connection of a replaced generation ending late) is still
 * sent, on a socket opened for that flush and closed right after it.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export interface ClientOptions {
  host: string;
  port: number;
  /** Milliseconds between flushes. */
  interval: number;
  /** Largest datagram in bytes (1432 fits a 1500-byte Ethernet MTU). */
  maxPacket: number;
  /** Timer values kept per interval before further ones are dropped. */
  maxTimers?: number;
  /** Name of the dropped-values counter (already prefixed). */
  droppedName: string;
  onError(err: Error): void;
}

/** The characters StatsD gives meaning to (and whitespace) are replaced in names. */
export function metricName(...parts: string[]): string {
  return parts.map((p) => p.replace(/[^A-Za-z0-9_-]/g, '_')).join('.');
}

export class StatsdClient {
  private counters = new Map<string, number>();
  private gauges = new Map<string, number>();
  private timers = new Map<string, number[]>();
  private timerCount = 0;
  private dropped = 0;
  private timer: NodeJS.Timeout | undefined;
  private socket: dgram.Socket | undefined;
  /** Sends not yet confirmed by their callback. */
  private inFlight = 0;
  private closed = false;
  private failing = false;

  constructor(private readonly options: ClientOptions) {}

  count(name: string, value = 1): void {
    if (value === 0) return;
    this.counters.set(name, (this.counters.get(name) ?? 0) + value);
    this.schedule();
  }

  gauge(name: string, value: number): void {
    this.gauges.set(name, value);
    this.schedule();
  }

  timing(name: string, ms: number): void {
    if (this.timerCount >= (this.options.maxTimers ?? 10_000)) {
      this.dropped++;
    } else {
      const values = this.timers.get(name);
      if (values) values.push(ms);
      else this.timers.set(name, [ms]);
      this.timerCount++;
    }
    this.schedule();
  }

  /** The pending metrics as StatsD lines, and the table emptied. */
  drain(): string[] {
    const lines: string[] = [];
    for (const [name, value] of this.counters) lines.push(`${name}:${value}|c`);
    for (const [name, value] of this.gauges) lines.push(`${name}:${value}|g`);
    for (const [name, values] of this.timers) for (const v of values) lines.push(`${name}:${Math.round(v)}|ms`);
    if (this.dropped > 0) lines.push(`${this.options.droppedName}:${this.dropped}|c`);
    this.counters = new Map();
    this.gauges = new Map();
    this.timers = new Map();
    this.timerCount = 0;
    this.dropped = 0;
    return lines;
  }

  /** Send what is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const packets = pack(this.drain(), this.options.maxPacket);
    if (packets.length === 0) return;
    const socket = this.open();
    for (const packet of packets) {
      this.inFlight++;
      socket.send(packet, this.options.port, this.options.host, (err) => {
        this.inFlight--;
        if (err && !this.failing) this.options.onError(err);
        this.failing = err !== null && err !== undefined;
        if (this.closed && this.inFlight === 0) this.shut();
      });
    }
  }

  /** Flush, then close the socket once the last datagram left (bounded by `ms`). */
  close(ms = 1000): Promise<void> {
    this.closed = true;
    this.flush();
    if (this.inFlight === 0) {
      this.shut();
      return Promise.resolve();
    }
    const deadline = Date.now() + ms;
    return new Promise((resolve) => {
      const poll = setInterval(() => {
        if (this.inFlight === 0 || Date.now() > deadline) {
          clearInterval(poll);
          this.shut();
          resolve();
        }
      }, 5);
    });
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.options.interval);
    this.timer.unref();
  }

  private open(): dgram.Socket {
    if (this.socket) return this.socket;
    const socket = dgram.createSocket(net.isIPv6(this.options.host) ? 'udp6' : 'udp4');
    socket.on('error', (err) => {
      if (!this.failing) this.options.onError(err);
      this.failing = true;
    });
    socket.unref();
    this.socket = socket;
    return socket;
  }

  private shut(): void {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
  }
}

/** Lines joined by newlines into datagrams of at most `max` bytes (a longer line goes alone). */
export function pack(lines: readonly string[], max: number): Buffer[] {
  const packets: Buffer[] = [];
  let current = '';
  for (const line of lines) {
    const joined = current === '' ? line : `${current}\n${line}`;
    if (Buffer.byteLength(joined) <= max || current === '') {
      current = joined;
    } else {
      packets.push(Buffer.from(current));
      current = line;
    }
  }
  if (current !== '') packets.push(Buffer.from(current));
  return packets;
}
