// A closed pipe on stdout (`imsp user list | head`, `imsp decode < x | less` quit early) is not an
// error of the command: it exits at once with status 0 and no stack trace, as cat and ls do. Any
// other error on stdout or stderr still ends the process with status 1 and one line.
let installed = false;

export function quietOnEpipe(
  out: NodeJS.WriteStream = process.stdout,
  err: NodeJS.WriteStream = process.stderr,
  exit: (code: number) => void = (c) => process.exit(c),
): void {
  if (installed && out === process.stdout) return;
  if (out === process.stdout) installed = true;
  const onError = (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') return exit(0);
    try {
      err.write(`imsp: cannot write output: ${e.message}\n`);
    } catch {
      // stderr is gone too
    }
    exit(1);
  };
  out.on('error', onError);
  err.on('error', (e: NodeJS.ErrnoException) => exit(e.code === 'EPIPE' ? 0 : 1));
}
