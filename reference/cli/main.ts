// Placeholder dispatcher until the subcommands land; replaced as they do.
export async function main(argv: string[]): Promise<number> {
  process.stderr.write(`imsp: unknown command ${argv[0] ?? ''}\n`);
  return 2;
}
