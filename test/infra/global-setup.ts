import { buildHandlers } from '../../scripts/build.ts';

/** The construct deploys dist/handlers: build them from the current sources before any template is read. */
export async function setup() {
  await buildHandlers();
}
