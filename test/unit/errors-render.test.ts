// How an error reads on a terminal: its place once, then the message and the hint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDiagnostic } from '../../src/errors/render.js';
import { NisoError } from '../../src/errors/niso-error.js';

const shown = (e: NisoError) => e.allDiagnostics().map((d) => formatDiagnostic(d)).join('\n');

test('a file is named once: as the place when the message does not name it, not again when it does', () => {
  assert.equal(shown(new NisoError('NISO2108', '/tmp/x.niso: the package is truncated', { path: '/tmp/x.niso', hint: 'copy it again' })),
    'error NISO2108: /tmp/x.niso: the package is truncated\n  hint: copy it again');
  assert.equal(shown(new NisoError('NISO1409', 'not a regular file but a FIFO', { path: '/app/manifest.toml' })),
    'error NISO1409: /app/manifest.toml: not a regular file but a FIFO');
  // A position inside the file is always shown: the message names the file, not the line.
  assert.equal(shown(new NisoError('NISO1201', 'manifest.toml has a bad port', { file: 'manifest.toml', line: 12, column: 9 })),
    'error NISO1201: manifest.toml:12:9: manifest.toml has a bad port');
});
