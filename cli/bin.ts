/** The `group-collector` executable (package bin; `npm run produce` in the repository). */
import { main } from './index.ts';

process.exitCode = await main(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
