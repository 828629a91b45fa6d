// The app of the data-across-generations suites (switch-data, switch-data-cheap): 1.0.0 writes its row into /data and
// /state only when there is none (an app that creates its schema once); 2.0.0 rewrites both (a migration). Each answers
// with its version and what it reads.
export const MAIN = (version: string, migrates: boolean) => `
const fs = require('fs');
const put = (f, text) => { if (${migrates} || !fs.existsSync(f)) fs.writeFileSync(f, text); };
put('/data/rows', 'row of ${version}');
put('/state/note', 'state of ${version}');
require('http').createServer((q, s) => {
  s.end('version ${version} data=' + fs.readFileSync('/data/rows', 'utf8') + ' state=' + fs.readFileSync('/state/note', 'utf8'));
}).listen(3000, '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));
`;
