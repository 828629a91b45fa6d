// Reads node's TAP reporter, for the suites that run a test file inside a booted systemd and judge its results.

export interface TapResult { name: string; ok: boolean; skip: string | null; depth: number; detail: string }

/** node's TAP reporter: `ok N - name`, `not ok N - name # SKIP why`, indented by four spaces per level, YAML details after. */
export function parseTap(text: string): TapResult[] {
  const out: TapResult[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const t = /^( *)(not )?ok \d+ - (.*?)(?: # SKIP(?: (.*))?)?$/.exec(lines[i]!);
    if (!t) continue;
    const detail: string[] = [];
    // The YAML block of a failure, up to its "...".
    if (t[2] && lines[i + 1]?.trim() === '---') {
      for (let j = i + 2; j < lines.length && lines[j]!.trim() !== '...'; j++) detail.push(lines[j]!.trim());
    }
    out.push({ name: t[3]!.replace(/\\#/g, '#'), ok: !t[2], skip: t[4] !== undefined || / # SKIP$/.test(lines[i]!) ? (t[4] ?? '') : null, depth: t[1]!.length / 4, detail: detail.join('\n') });
  }
  return out;
}
