// The CA bundle a test needs to reach the npm registry through these machines' TLS proxy, which the test runner keeps
// out of every other process (scripts/run-tests.mjs: node reads it at each start).
export function npmCaEnv(): Record<string, string> {
  const ca = process.env.NISO_TEST_NPM_CA ?? process.env.NODE_EXTRA_CA_CERTS;
  return ca ? { NODE_EXTRA_CA_CERTS: ca } : {};
}
