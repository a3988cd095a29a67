import { CriError } from '../../common/errors';
import { HUFFMAN_CODES } from './huffman-table';

/**
 * HPACK Huffman decoding (RFC 7541 section 5.2), four bits at a time.
 *
 * The code is a complete prefix code, so its tree has 256 internal nodes. At
 * load we number them and precompute, for every (node, nibble), the node the
 * walk ends on and the symbol it emits on the way (at most one: the shortest
 * code is 5 bits, so after one symbol completes the rest of a nibble cannot
 * finish another). Decoding a byte is then two table look-ups.
 */
const EOS = 256;

interface Tables {
  /** `next[node * 16 + nibble]`: the node after the nibble, or -1 when the nibble reaches EOS. */
  readonly next: Int16Array;
  /** `emit[node * 16 + nibble]`: the symbol completed on the way, or -1. */
  readonly emit: Int16Array;
  /** Nodes where the string may end: the root, or up to 7 bits of EOS's leading ones (section 5.2 padding). */
  readonly canEnd: Uint8Array;
}

function buildTables(): Tables {
  // Children of internal nodes: >= 0 is another internal node, < 0 is the leaf of symbol -(c + 1).
  const zero: number[] = [0];
  const one: number[] = [0];
  const depth: number[] = [0];
  const allOnes: boolean[] = [true];
  let count = 1;
  HUFFMAN_CODES.forEach(([code, bits], sym) => {
    let node = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const kids = bit ? one : zero;
      if (i === 0) {
        kids[node] = -(sym + 1);
        break;
      }
      if (!kids[node]) {
        kids[node] = count;
        zero[count] = 0;
        one[count] = 0;
        depth[count] = depth[node]! + 1;
        allOnes[count] = allOnes[node]! && bit === 1;
        count++;
      }
      node = kids[node]!;
    }
  });
  const next = new Int16Array(count * 16);
  const emit = new Int16Array(count * 16).fill(-1);
  const canEnd = new Uint8Array(count);
  for (let node = 0; node < count; node++) {
    canEnd[node] = node === 0 || (allOnes[node]! && depth[node]! <= 7) ? 1 : 0;
    for (let nibble = 0; nibble < 16; nibble++) {
      let cur = node;
      let sym = -1;
      for (let i = 3; i >= 0 && cur >= 0; i--) {
        const child = ((nibble >>> i) & 1 ? one : zero)[cur]!;
        if (child >= 0) cur = child;
        else if (-(child + 1) === EOS) cur = -1;
        else {
          sym = -(child + 1);
          cur = 0;
        }
      }
      next[node * 16 + nibble] = cur;
      emit[node * 16 + nibble] = sym;
    }
  }
  return { next, emit, canEnd };
}

const { next, emit, canEnd } = buildTables();
const eosError = (): CriError => new CriError('InvalidArgument', 'failed to decode a Huffman string: it contains EOS');

/**
 * Decodes a Huffman-coded string literal. Throws on EOS inside the string, on
 * padding longer than 7 bits and on padding that is not EOS's leading ones:
 * all three are decoding errors in section 5.2.
 */
export function huffmanDecode(src: Buffer): Buffer {
  // Every symbol takes at least 5 bits, so the output is at most 8/5 of the input.
  const out = Buffer.allocUnsafe(Math.ceil((src.length * 8) / 5));
  let n = 0;
  let node = 0;
  for (let i = 0; i < src.length; i++) {
    const byte = src[i]!;
    let k = node * 16 + (byte >>> 4);
    if (emit[k]! >= 0) out[n++] = emit[k]!;
    node = next[k]!;
    if (node < 0) throw eosError();
    k = node * 16 + (byte & 15);
    if (emit[k]! >= 0) out[n++] = emit[k]!;
    node = next[k]!;
    if (node < 0) throw eosError();
  }
  if (!canEnd[node]) throw new CriError('InvalidArgument', 'failed to decode a Huffman string: invalid padding');
  return out.subarray(0, n);
}

/** Huffman-codes `src` (EOS-padded), as an encoder would. The filter itself never needs it; tests and fixtures do. */
export function huffmanEncode(src: Uint8Array): Buffer {
  let bits = 0;
  for (const b of src) bits += HUFFMAN_CODES[b]![1];
  const out = Buffer.alloc(Math.ceil(bits / 8));
  let acc = 0;
  let accBits = 0;
  let n = 0;
  for (const b of src) {
    const [code, len] = HUFFMAN_CODES[b]!;
    // Feed the code in pieces small enough that `acc` stays within 32 bits.
    for (let left = len; left > 0; ) {
      const take = Math.min(left, 16);
      acc = ((acc << take) | ((code >>> (left - take)) & ((1 << take) - 1))) >>> 0;
      accBits += take;
      left -= take;
      while (accBits >= 8) {
        accBits -= 8;
        out[n++] = (acc >>> accBits) & 0xff;
      }
      acc &= (1 << accBits) - 1;
    }
  }
  if (accBits > 0) out[n++] = ((acc << (8 - accBits)) | (0xff >>> accBits)) & 0xff;
  return out;
}
