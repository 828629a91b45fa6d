// Prepares the real node apps (small express, >= 50 MB node_modules) once in bench/.cache, keyed by recipe.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { duBytes, run } from './proc.js';

export interface AppRecipe {
  name: string;
  /** Installed first, with exact versions so that reruns and other machines pack the same tree. */
  deps: string[];
  /** Installed one at a time, only while node_modules is still below minNodeModulesBytes. */
  extraDeps: string[];
  minNodeModulesBytes: number;
  serverJs: string;
}

export interface PreparedApp {
  name: string;
  dir: string;
  reused: boolean;
  prepareMs: number;
  nodeModulesBytes: number;
  /** Top-level dependencies as npm resolved them. */
  dependencies: Record<string, string>;
}

const SMALL_SERVER = `// A minimal express server, the kind of app niso packs.
const express = require('express');
const app = express();
app.get('/', (_req, res) => res.json({ hello: 'world' }));
app.listen(Number(process.env.PORT ?? 3000));
`;

const LARGE_SERVER = `// A server that loads a few of its many dependencies, so node_modules is genuinely used.
const http = require('node:http');
const _ = require('lodash');
const { format } = require('date-fns');
http.createServer((_req, res) => res.end(JSON.stringify({ at: format(new Date(), 'yyyy-MM-dd'), n: _.sum([1, 2, 3]) })))
  .listen(Number(process.env.PORT ?? 3000));
`;

export const RECIPES: AppRecipe[] = [
  { name: 'bench-small', deps: ['express@5.3.0'], extraDeps: [], minNodeModulesBytes: 0, serverJs: SMALL_SERVER },
  {
    name: 'bench-large',
    deps: ['typescript@5.9.3', '@babel/core@7.29.13', 'webpack@5.112.2', 'eslint@10.15.0', 'rxjs@7.8.2', 'date-fns@4.4.0', 'lodash@4.18.1', 'prettier@3.10.1'],
    extraDeps: ['three', 'core-js', 'moment', 'luxon', 'antd'],
    minNodeModulesBytes: 50 * 1000 * 1000,
    serverJs: LARGE_SERVER,
  },
];

export function manifestToml(name: string, version: string): string {
  return `[package]\nname = "${name}"\nversion = "${version}"\n[runtime]\nuse = "nodejs:20"\n[binary]\nentrypoint = "node"\nargs = ["server.js"]\n`;
}

function recipeKey(r: AppRecipe): string {
  const nodeMajor = process.versions.node.split('.')[0];
  return createHash('sha256').update(JSON.stringify({ r, nodeMajor, v: 1 })).digest('hex').slice(0, 12);
}

const NPM_FLAGS = ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--save-exact', '--loglevel=error'];

/** Returns the app dir for a recipe, installing it with npm unless a finished one is cached. */
export function prepareApp(cacheDir: string, r: AppRecipe, log: (s: string) => void): PreparedApp {
  const dir = join(cacheDir, `${r.name}-${recipeKey(r)}`);
  const ready = `${dir}.ready.json`;
  if (existsSync(ready) && existsSync(dir)) {
    return { ...(JSON.parse(readFileSync(ready, 'utf8')) as Omit<PreparedApp, 'reused' | 'prepareMs' | 'dir'>), dir, reused: true, prepareMs: 0 };
  }
  const t0 = performance.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'package.json'), JSON.stringify({ name: r.name, version: '1.0.0', private: true }, null, 2) + '\n');
  log(`  npm install ${r.deps.join(' ')} (into ${tmp})`);
  run('npm', [...NPM_FLAGS, ...r.deps], { cwd: tmp });
  let size = duBytes(join(tmp, 'node_modules'));
  for (const extra of r.extraDeps) {
    if (size >= r.minNodeModulesBytes) break;
    log(`  node_modules is ${size} bytes < ${r.minNodeModulesBytes}: npm install ${extra}`);
    run('npm', [...NPM_FLAGS, extra], { cwd: tmp });
    size = duBytes(join(tmp, 'node_modules'));
  }
  if (size < r.minNodeModulesBytes) throw new Error(`${r.name}: node_modules is only ${size} bytes after every extra dependency`);
  writeFileSync(join(tmp, 'server.js'), r.serverJs);
  writeFileSync(join(tmp, 'manifest.toml'), manifestToml(r.name, '1.0.0'));
  const pkg = JSON.parse(readFileSync(join(tmp, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  renameSync(tmp, dir);
  const facts = { name: r.name, nodeModulesBytes: size, dependencies: pkg.dependencies ?? {} };
  writeFileSync(ready, JSON.stringify(facts, null, 2) + '\n');
  return { ...facts, dir, reused: false, prepareMs: performance.now() - t0 };
}
