// Hand-built HTTP/2 frames, for clients that misbehave on purpose.
// Literal header fields without indexing and without Huffman coding keep the
// HPACK side trivial; names and values must stay under 127 bytes.

const encoder = new TextEncoder();

/** The client connection preface. */
export const PREFACE = encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Frame types used here. */
export const DATA = 0, HEADERS = 1, RST_STREAM = 3, SETTINGS = 4, GOAWAY = 7;
/** Flags. */
export const END_STREAM = 0x1, END_HEADERS = 0x4;

/** One frame. */
export function frame(type: number, flags: number, stream: number, payload = new Uint8Array()): Uint8Array {
  const f = new Uint8Array(9 + payload.length);
  f[0] = (payload.length >> 16) & 0xff;
  f[1] = (payload.length >> 8) & 0xff;
  f[2] = payload.length & 0xff;
  f[3] = type;
  f[4] = flags;
  new DataView(f.buffer).setUint32(5, stream & 0x7fffffff);
  f.set(payload, 9);
  return f;
}

function literal(s: string): number[] {
  const b = encoder.encode(s);
  if (b.length >= 127) throw new RangeError(`header part too long for this encoder: ${s}`);
  return [b.length, ...b];
}

/** A HEADERS frame (END_HEADERS set) opening a gRPC call on `stream`. */
export function grpcHeaders(stream: number, path: string, scheme: string, extra: [string, string][] = []): Uint8Array {
  const fields: [string, string][] = [
    [":method", "POST"],
    [":scheme", scheme],
    [":path", path],
    [":authority", "localhost"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ...extra,
  ];
  const block: number[] = [];
  for (const [k, v] of fields) block.push(0x00, ...literal(k), ...literal(v));
  return frame(HEADERS, END_HEADERS, stream, new Uint8Array(block));
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** A DATA frame carrying one length-prefixed EchoRequest. */
export function echoData(stream: number, message: string, count = 0, intervalMs = 0, end = true): Uint8Array {
  const m = encoder.encode(message);
  const pb = [0x0a, m.length, ...m];
  if (count) pb.push(0x10, ...varint(count));
  if (intervalMs) pb.push(0x18, ...varint(intervalMs));
  const body = new Uint8Array(5 + pb.length);
  new DataView(body.buffer).setUint32(1, pb.length);
  body.set(pb, 5);
  return frame(DATA, end ? END_STREAM : 0, stream, body);
}

/** GOAWAY with the given last stream id and error code. */
export function goaway(lastStream: number, code: number): Uint8Array {
  const p = new Uint8Array(8);
  new DataView(p.buffer).setUint32(0, lastStream);
  new DataView(p.buffer).setUint32(4, code);
  return frame(GOAWAY, 0, 0, p);
}

/** RST_STREAM with the given error code. */
export function rstStream(stream: number, code: number): Uint8Array {
  const p = new Uint8Array(4);
  new DataView(p.buffer).setUint32(0, code);
  return frame(RST_STREAM, 0, stream, p);
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Reads frames until `match(type, flags, stream)` holds, the peer closes, or
 * `timeoutMs` passes (then the connection is closed). Returns whether it matched.
 */
export async function readUntil(
  conn: Deno.Conn,
  match: (type: number, flags: number, stream: number) => boolean,
  timeoutMs: number,
): Promise<boolean> {
  let buf: Uint8Array = new Uint8Array(0);
  const chunk = new Uint8Array(16384);
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }, timeoutMs);
  try {
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(chunk);
      } catch {
        return false;
      }
      if (n === null) return false;
      buf = concat(buf, chunk.subarray(0, n));
      while (buf.length >= 9) {
        const len = (buf[0] << 16) | (buf[1] << 8) | buf[2];
        if (buf.length < 9 + len) break;
        const stream = new DataView(buf.buffer, buf.byteOffset).getUint32(5) & 0x7fffffff;
        const [type, flags] = [buf[3], buf[4]];
        buf = buf.slice(9 + len);
        if (match(type, flags, stream)) return true;
      }
    }
  } finally {
    clearTimeout(timer);
  }
}
