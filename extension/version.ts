/**
 * The handshake between the extension and the server it starts: both are flowspin, and the
 * `flowspin/*` messages between them change with it, so a server of another version (an old
 * install in the selected interpreter) is named at once instead of failing in odd ways later.
 * The server reports its version in the LSP initialize result (`serverInfo`).
 */
export function versionMismatch(
  extensionVersion: string,
  serverName: string | undefined,
  serverVersion: string | undefined,
  python: string,
): string | undefined {
  if (serverName !== 'flowspin' || !serverVersion) {
    return `the server started with ${python} did not say it is flowspin ${extensionVersion}; install flowspin ${extensionVersion} there, then run "Flowspin: Restart Server"`;
  }
  if (releaseOf(serverVersion) !== releaseOf(extensionVersion)) {
    return `the flowspin package in ${python} is version ${serverVersion}, but this extension is ${extensionVersion}; install flowspin ${extensionVersion} in that interpreter (or pick another in "flowspin.python"), then run "Flowspin: Restart Server"`;
  }
  return undefined;
}

/** Major.minor: patch releases of the package and the extension speak the same protocol. */
function releaseOf(version: string): string {
  return version.split('.').slice(0, 2).join('.');
}
