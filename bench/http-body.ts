/** The HTTP backends' answer body (nginx's and Node's alike): 64 bytes, as bench/protocol.ts's RESPONSE_SIZE. */
export const HTTP_BODY = 'Proto Balance side-by-side benchmark: a 64-byte body'.padEnd(64, '.');
