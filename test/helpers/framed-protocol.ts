/**
 * A small binary protocol for tests, shaped like IIOP and T3: long-lived connections,
 * length-prefixed frames of up to several MB, the server greeting first, both sides sending
 * at once, and quiet spells. Every frame carries its sequence number, the connection's tag
 * (from the greeting) and the sha256 of its payload, and the receiver checks all three.
 *
 * Frame: u32 payload length | u8 type | u32 tag | u32 sequence | 32-byte sha256 | payload
 * A conversation: the server sends GREETING; then for each burst both sides send their DATA
 * frames at the same time, each ending its burst with MARK; between bursts both stay silent
 * for `idleMs`; at the end each sends BYE (payload: frames sent) and closes.
 */
import { createHash, randomBytes } from 'node:crypto';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';

export const FrameType = { GREETING: 1, DATA: 2, MARK: 3, BYE: 4 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const HEADER_BYTES = 4 + 1 + 4 + 4 + 32;
const PIECE_BYTES = 64 * 1024;
/** Larger lengths mean the stream is garbled: fail instead of buffering forever. */
const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
const NAME: Record<number, string> = { 1: 'GREETING', 2: 'DATA', 3: 'MARK', 4: 'BYE' };

export interface Frame {
  type: FrameType;
  tag: number;
  sequence: number;
  payload: Buffer;
}

/** What both sides send in one burst (payload sizes in bytes). */
export interface Burst {
  client: number[];
  server: number[];
}

export interface ConversationPlan {
  bursts: Burst[];
  /** Silence on the connection between two bursts, both ways. */
  idleMs: number;
  /** Bound on any single wait for the peer. */
  waitMs: number;
}

/** One side's account of one connection. */
export interface ConversationResult {
  side: 'client' | 'server';
  tag: number;
  /** Empty when every frame arrived whole, in order, on the right connection. */
  errors: string[];
  framesReceived: number;
  dataBytesReceived: number;
  /** Bytes that arrived while this side was still writing its own burst: traffic both ways at once. */
  bytesReceivedWhileSending: number;
  startedAt: number;
  endedAt: number;
}

/** Random payload bytes, made once and sliced: the content is random, the cost is not per frame. */
const POOL = randomBytes(8 * 1024 * 1024);

function payloadFor(tag: number, sequence: number, size: number): Buffer {
  if (size > POOL.length) throw new Error(`payloads are at most ${POOL.length} bytes`);
  const offset = (tag * 7919 + sequence * 104_729) % (POOL.length - size + 1);
  return POOL.subarray(offset, offset + size);
}

/** Splits a byte stream into frames; collects chunks and joins them once per frame. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (let guard = 0; guard < 100_000 && this.buffered >= HEADER_BYTES; guard++) {
      const head = this.chunks[0]!.length >= HEADER_BYTES ? this.chunks[0]! : this.join();
      const length = head.readUInt32BE(0);
      if (length > MAX_PAYLOAD_BYTES) throw new Error(`frame length ${length} is not believable: stream garbled`);
      if (this.buffered < HEADER_BYTES + length) break;
      const all = this.join();
      const payload = all.subarray(HEADER_BYTES, HEADER_BYTES + length);
      const digest = all.subarray(13, HEADER_BYTES).toString('hex');
      if (createHash('sha256').update(payload).digest('hex') !== digest) throw new Error(`frame ${all.readUInt32BE(9)}: payload does not match its sha256`);
      frames.push({ type: all.readUInt8(4) as FrameType, tag: all.readUInt32BE(5), sequence: all.readUInt32BE(9), payload });
      const rest = all.subarray(HEADER_BYTES + length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
    }
    return frames;
  }

  private join(): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    return all;
  }
}

/** One end of a connection: sends numbered frames with backpressure, checks what it receives. */
export class FramedPeer {
  tag = 0;
  private sent = 0;
  private expected = 0;
  private sending = false;
  private readonly reader = new FrameReader();
  private readonly queue: Frame[] = [];
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;
  readonly result: ConversationResult;

  constructor(
    readonly socket: Socket,
    side: 'client' | 'server',
  ) {
    this.result = { side, tag: 0, errors: [], framesReceived: 0, dataBytesReceived: 0, bytesReceivedWhileSending: 0, startedAt: Date.now(), endedAt: 0 };
    socket.on('data', (chunk: Buffer) => {
      if (this.sending) this.result.bytesReceivedWhileSending += chunk.length;
      try {
        for (const frame of this.reader.push(chunk)) this.accept(frame);
      } catch (err) {
        this.fail(err as Error);
      }
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  private accept(frame: Frame): void {
    if (frame.sequence !== this.expected) throw new Error(`${NAME[frame.type]} frame numbered ${frame.sequence}, expected ${this.expected}`);
    this.expected++;
    if (frame.type === FrameType.GREETING && this.result.side === 'client') this.tag = this.result.tag = frame.tag;
    else if (frame.tag !== this.tag) throw new Error(`frame ${frame.sequence} carries tag ${frame.tag}, this connection is ${this.tag}: crossed connections`);
    this.result.framesReceived++;
    if (frame.type === FrameType.DATA) this.result.dataBytesReceived += frame.payload.length;
    this.queue.push(frame);
    this.waiter?.();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.waiter?.();
  }

  /** The next frame, which must be of `type`; rejects on a failure, a close, or after `ms`. */
  async next(type: FrameType, ms: number): Promise<Frame> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${NAME[type]} frame within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => (clearTimeout(timer), resolve());
      });
      this.waiter = undefined;
    }
    const frame = this.queue.shift()!;
    if (frame.type !== type) throw new Error(`got ${NAME[frame.type]} frame ${frame.sequence}, expected ${NAME[type]}`);
    return frame;
  }

  /**
   * Writes one frame in 64 KB pieces, yielding to the event loop after each (and waiting for
   * 'drain' when the socket pushes back), as an application producing a large message would:
   * so a message takes a while to send and the peer's bytes arrive meanwhile.
   */
  async send(type: FrameType, payload: Buffer): Promise<void> {
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32BE(payload.length, 0);
    header.writeUInt8(type, 4);
    header.writeUInt32BE(this.tag, 5);
    header.writeUInt32BE(this.sent++, 9);
    createHash('sha256').update(payload).digest().copy(header, 13);
    this.socket.write(header);
    for (let offset = 0; offset < payload.length; offset += PIECE_BYTES) {
      if (this.socket.destroyed) throw new Error('connection closed while sending');
      if (!this.socket.write(payload.subarray(offset, offset + PIECE_BYTES))) await this.drained();
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private drained(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => (this.socket.off('drain', onDrain).off('close', onClose), err ? reject(err) : resolve());
      const onDrain = () => done();
      const onClose = () => done(new Error('connection closed while sending'));
      this.socket.on('drain', onDrain).on('close', onClose);
    });
  }

  /** Sends this side's part of a burst (then MARK) while reading the peer's part (up to its MARK). */
  async burst(mine: number[], theirs: number[], waitMs: number): Promise<void> {
    const sendAll = async () => {
      this.sending = true;
      try {
        for (const size of mine) await this.send(FrameType.DATA, payloadFor(this.tag, this.sent, size));
        await this.send(FrameType.MARK, Buffer.alloc(0));
      } finally {
        this.sending = false;
      }
    };
    const receiveAll = async () => {
      for (const size of theirs) {
        const frame = await this.next(FrameType.DATA, waitMs);
        if (frame.payload.length !== size) throw new Error(`DATA frame ${frame.sequence} has ${frame.payload.length} bytes, the plan says ${size}`);
      }
      await this.next(FrameType.MARK, waitMs);
    };
    await Promise.all([sendAll(), receiveAll()]);
  }

  /** Sends BYE with the count of frames sent, checks the peer's, then ends and waits for the close. */
  async goodbye(waitMs: number): Promise<void> {
    await this.send(FrameType.BYE, Buffer.from(String(this.sent + 1)));
    const bye = await this.next(FrameType.BYE, waitMs);
    if (Number(bye.payload.toString()) !== this.expected) throw new Error(`peer says it sent ${bye.payload.toString()} frames, ${this.expected} arrived`);
    this.socket.end();
    if (!this.socket.closed) await new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
  }
}

/** Runs one side of `plan` on `peer`, recording (never throwing) what went wrong. */
export async function converse(peer: FramedPeer, plan: ConversationPlan): Promise<ConversationResult> {
  const side = peer.result.side;
  try {
    if (side === 'server') await peer.send(FrameType.GREETING, Buffer.from(`FRAMED/1 ready, connection ${peer.tag}`));
    else await peer.next(FrameType.GREETING, plan.waitMs);
    for (const [i, burst] of plan.bursts.entries()) {
      await peer.burst(side === 'client' ? burst.client : burst.server, side === 'client' ? burst.server : burst.client, plan.waitMs);
      if (i < plan.bursts.length - 1) await new Promise((r) => setTimeout(r, plan.idleMs));
    }
    await peer.goodbye(plan.waitMs);
  } catch (err) {
    peer.result.errors.push((err as Error).message);
    peer.socket.destroy();
  }
  peer.result.endedAt = Date.now();
  return peer.result;
}

export interface FramedServer {
  server: Server;
  port: number;
  /** Every connection's result, as each conversation ends. */
  results: ConversationResult[];
  /** Connections accepted so far. */
  accepted: number;
  close(): Promise<void>;
}

/** A server on 127.0.0.1:0 that greets each connection at once and runs `plan` on it. */
export async function startFramedServer(plan: ConversationPlan): Promise<FramedServer> {
  const sockets = new Set<Socket>();
  // Tags differ between servers too, so a frame from another node's connection is noticed.
  const firstTag = 1 + Math.floor(Math.random() * 1_000_000) * 1000;
  const framed: FramedServer = {
    server: net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      const peer = new FramedPeer(socket, 'server');
      peer.tag = peer.result.tag = firstTag + framed.accepted++;
      void converse(peer, plan).then((result) => framed.results.push(result));
    }),
    port: 0,
    results: [],
    accepted: 0,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => framed.server.close(() => resolve()));
    },
  };
  await new Promise<void>((resolve) => framed.server.listen(0, '127.0.0.1', resolve));
  framed.port = (framed.server.address() as AddressInfo).port;
  return framed;
}

/** A client peer on a new connection to 127.0.0.1:`port` (connected, nothing written). */
export function connectFramed(port: number): Promise<FramedPeer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.off('error', reject), resolve(new FramedPeer(socket, 'client'))));
    socket.once('error', reject);
  });
}
