// Checks in the browser, with WebCrypto, that a transaction is in the ledger:
//  1. the transfer's canonical bytes (ledger/src/encoding.rs) hash to the proof's leaf
//     (RFC 6962: SHA-256(0x00 || bytes));
//  2. the audit path leads from that leaf to a root (RFC 9162 §2.1.3.2);
//  3. the checkpoint's signed bytes name that root and tree size;
//  4. the checkpoint's Ed25519 signature holds under the operator's public key.
// Every integer arrives as decimal digits and is handled as a BigInt.
"use strict";

const TRANSFER_TAG = "mileverse/transfer/v1";
const FLAG_BITS = {
  linked: 0, pending: 1, post_pending_transfer: 2, void_pending_transfer: 3,
  balancing_debit: 4, balancing_credit: 5, closing_debit: 6, closing_credit: 7, imported: 8,
};

function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/.test(text)) throw new Error("not hex: " + text);
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.substr(i * 2, 2), 16);
  return bytes;
}

function toHex(bytes) {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

// `value` (decimal digits) as `width` big-endian bytes.
function bigEndian(value, width) {
  let number = BigInt(value);
  const bytes = new Uint8Array(width);
  for (let i = width - 1; i >= 0; i--) {
    bytes[i] = Number(number & 0xffn);
    number >>= 8n;
  }
  if (number !== 0n) throw new Error("too large for " + width + " bytes: " + value);
  return bytes;
}

function concat(parts) {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

function encodeTransfer(t) {
  let flags = 0;
  for (const name of t.flags) {
    if (!(name in FLAG_BITS)) throw new Error("unknown flag " + name);
    flags |= 1 << FLAG_BITS[name];
  }
  const tag = new TextEncoder().encode(TRANSFER_TAG);
  return concat([
    Uint8Array.of(tag.length), tag,
    bigEndian(t.id, 16), bigEndian(t.debit_account_id, 16), bigEndian(t.credit_account_id, 16),
    bigEndian(t.amount, 16), bigEndian(t.pending_id, 16), bigEndian(t.user_data_128, 16),
    bigEndian(t.user_data_64, 8), bigEndian(t.user_data_32, 4), bigEndian(t.timeout, 4),
    bigEndian(t.ledger, 4), bigEndian(t.code, 2), bigEndian(String(flags), 2),
    bigEndian(t.timestamp, 8),
  ]);
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

async function leafHash(bytes) {
  return sha256(concat([Uint8Array.of(0), bytes]));
}

async function nodeHash(left, right) {
  return sha256(concat([Uint8Array.of(1), left, right]));
}

// RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or an error.
async function rootFromPath(leafIndex, treeSize, leaf, path) {
  let fn = BigInt(leafIndex);
  let sn = BigInt(treeSize) - 1n;
  if (fn > sn) throw new Error("the leaf is outside the tree");
  let hash = leaf;
  for (const sibling of path) {
    if (sn === 0n) throw new Error("the path is too long");
    if ((fn & 1n) === 1n || fn === sn) {
      hash = await nodeHash(sibling, hash);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      hash = await nodeHash(hash, sibling);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("the path is too short");
  return hash;
}

// The checkpoint's signed bytes: a tag, then height, block hash, tree size, root, time.
function readSignedCheckpoint(bytes) {
  const tagLength = bytes[0];
  let offset = 1 + tagLength;
  const take = (width) => {
    const part = bytes.slice(offset, offset + width);
    offset += width;
    return part;
  };
  const number = (part) => part.reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);
  const height = number(take(8));
  const blockHash = take(32);
  const treeSize = number(take(8));
  const root = take(32);
  const timestamp = number(take(8));
  if (offset !== bytes.length) throw new Error("the signed checkpoint has a wrong length");
  return { height, blockHash, treeSize, root, timestamp };
}

async function verify(proof) {
  const leaf = await leafHash(encodeTransfer(proof.transfer));
  if (toHex(leaf) !== proof.leaf_hash) throw new Error("the transfer does not hash to the leaf");
  const path = proof.proof.map(fromHex);
  const root = await rootFromPath(proof.leaf_index, proof.tree_size, leaf, path);
  const checkpoint = proof.checkpoint;
  const signed = fromHex(checkpoint.signed_message);
  const fields = readSignedCheckpoint(signed);
  if (toHex(fields.root) !== toHex(root)) throw new Error("the path does not lead to the signed root");
  if (fields.treeSize !== BigInt(proof.tree_size)) throw new Error("the tree sizes differ");
  const key = await crypto.subtle.importKey(
    "raw", fromHex(checkpoint.public_key), { name: "Ed25519" }, false, ["verify"]);
  const good = await crypto.subtle.verify({ name: "Ed25519" }, key, fromHex(checkpoint.signature), signed);
  if (!good) throw new Error("the checkpoint's signature does not hold");
  return { root: toHex(root), treeSize: String(fields.treeSize) };
}

async function main() {
  const section = document.getElementById("verify");
  const status = document.getElementById("verify-status");
  try {
    const answer = await fetch(section.dataset.proofUrl, { credentials: "same-origin" });
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    const result = await verify(await answer.json());
    status.textContent = status.dataset.ok;
    status.className = "notice";
    status.dataset.verified = "true";
    document.getElementById("verify-tree-size").textContent = result.treeSize;
    document.getElementById("verify-root").textContent = result.root;
    document.getElementById("verify-facts").hidden = false;
  } catch (error) {
    status.textContent = status.dataset.failed + ": " + error.message;
    status.className = "error";
    status.dataset.verified = "false";
  }
}

main();
