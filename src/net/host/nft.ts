// Typed wrappers over nft: apply a rendered table atomically from stdin, check one without
// applying it, read the live table back, and list the host's tables (which niso never touches).
import { acceptsBridges, forwardDropChains, forwardDropWarning, parseNftChains } from '../model/firewall.js';
import { parseNftElements, parseNftTables } from '../model/tool-json.js';
import { validateTableName } from '../model/names.js';
import { exec, must, mustJson } from './tools.js';

/** `nft -f -`: the whole file is one transaction, so the table is replaced entirely or not at all. */
export async function applyRuleset(text: string): Promise<void> {
  await must('nft', ['-f', '-'], text, 'NISO4012');
}

/** `nft -c -f -`: the kernel checks the ruleset without changing anything. null when accepted. */
export async function checkRuleset(text: string): Promise<string | null> {
  const r = await exec('nft', ['-c', '-f', '-'], text);
  return r.code === 0 ? null : (r.stderr || r.stdout).trim();
}

/** Every table of the host as "family name". */
export async function listTables(): Promise<string[]> {
  return parseNftTables(await mustJson('nft', ['-j', 'list', 'tables']));
}

export interface LiveTable {
  /** `nft list table` text, as the kernel holds it. */
  text: string;
  /** Elements of each map and set, as "key : value" text. */
  elements: Record<string, string[]>;
}

/** The live `table ip NAME`, or null when it does not exist. */
export async function readTable(table: string): Promise<LiveTable | null> {
  validateTableName(table);
  if (!(await listTables()).includes(`ip ${table}`)) return null;
  const [text, json] = await Promise.all([must('nft', ['list', 'table', 'ip', table]), mustJson('nft', ['-j', 'list', 'table', 'ip', table])]);
  return { text, elements: parseNftElements(json) };
}

/** Removes niso's table (e.g. when the last network goes); a missing table is fine. */
export async function deleteTable(table: string): Promise<void> {
  validateTableName(table);
  // `add` then `delete` in one transaction: succeeds whether or not the table existed.
  await must('nft', ['-f', '-'], `add table ip ${table}\ndelete table ip ${table}\n`, 'NISO4012');
}

/**
 * Warnings about other tables that drop forwarded packets by policy (Docker's FORWARD DROP) and do
 * not accept niso's bridges (model/firewall.ts). Reads the chain list only, and a table's rules
 * only when one of its chains drops; changes nothing.
 */
export async function forwardBlockers(ownTable: string, bridges: readonly string[], bridgePrefix: string): Promise<string[]> {
  const chains = forwardDropChains(parseNftChains(await mustJson('nft', ['-j', 'list', 'chains'])), ownTable);
  const out: string[] = [];
  for (const c of chains) {
    const table = await mustJson('nft', ['-j', 'list', 'table', c.family, c.table]);
    if (!acceptsBridges(table, bridges)) out.push(forwardDropWarning(c, bridgePrefix));
  }
  return out;
}
