// Recognising an AWS Encryption SDK message by its first bytes, without loading the SDK (esdk.ts).

/** ESDK v2 messages start 0x02 + a committing suite id; v1 messages 0x01 0x80 + suite id. */
export function looksLikeEsdk(head: Uint8Array): boolean {
  if (head.length < 3) return false;
  const suite = (head[1]! << 8) | head[2]!;
  if (head[0] === 0x02) return suite === 0x0478 || suite === 0x0578;
  if (head[0] === 0x01 && head[1] === 0x80 && head.length >= 4)
    return [0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378].includes((head[2]! << 8) | head[3]!);
  return false;
}
