/** The `group-collector` executable (package bin; `npm run produce` in the repository). */
// First: the AWS SDK's Node.js notice as one line (installed on import).
import './node-notice.ts';
import { main } from './index.ts';

process.exitCode = await main(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
