/**
 * Synthesizes every documented deployment (infra/documented-variants.ts) as `cdk synth` would (the
 * app's context parsing, CollectorStack, the cdk-nag AWS Solutions and NIST 800-53 rev 5 checks,
 * CDK's own CloudFormation validation), into cdk.out/variants/<name>/, and the example apps
 * (examples/*.ts) the same way. Fails when a variant has an error, a validation finding, or a synth
 * warning that is not expected for it and explained in docs/deploy.md: CDK warns, and the deploy
 * fails later. Writes the templates' paths to cdk.out/variants/templates.tsv (for scripts/cfn-lint.sh
 * and scripts/cfn-guard.sh).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { DOCUMENTED_VARIANTS, EXAMPLE_APPS } from '../infra/documented-variants.ts';
import { CollectorStack } from '../infra/lib/collector-stack.ts';
import { stackPropsFromContext } from '../infra/lib/context.ts';

const OUT = resolve(import.meta.dirname, '..', 'cdk.out', 'variants');

interface PluginReport {
  readonly pluginName?: string;
  readonly violations?: {
    readonly ruleName?: string;
    readonly description?: string;
    readonly severity?: string;
    readonly violatingConstructs?: { readonly constructPath?: string }[];
  }[];
}

interface Finding {
  readonly variant: string;
  readonly text: string;
}

/** The rule packs every template is checked with (scripts/cfn-guard.sh adds the Guard rules registry). */
function addChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new NIST80053R5Checks(app));
}

async function appOf(name: string): Promise<{ app: App; expectedWarnings: readonly string[] }> {
  const example = EXAMPLE_APPS[name];
  if (example) {
    rmSync(join(OUT, name), { recursive: true, force: true });
    const module = (await import(resolve(import.meta.dirname, '..', example.path))) as { app: App };
    return { app: module.app, expectedWarnings: [] };
  }
  const variant = DOCUMENTED_VARIANTS[name];
  if (!variant) throw new Error(`no variant ${name}`);
  const outdir = join(OUT, name);
  rmSync(outdir, { recursive: true, force: true });
  const app = new App({ outdir, context: { ...variant.context } });
  const { stackName, props } = stackPropsFromContext((key) => app.node.tryGetContext(key));
  new CollectorStack(app, stackName, props);
  return { app, expectedWarnings: variant.expectedWarnings ?? [] };
}

async function synthesize(name: string): Promise<{ templates: string[]; problems: Finding[] }> {
  const problems: Finding[] = [];
  const exitCodeBefore = process.exitCode;
  let app: App;
  let expectedWarnings: readonly string[];
  try {
    ({ app, expectedWarnings } = await appOf(name));
  } catch (error) {
    return { templates: [], problems: [{ variant: name, text: `synth failed: ${String(error)}` }] };
  }
  addChecks(app);
  const outdir = app.outdir;
  let assembly: ReturnType<App['synth']>;
  try {
    assembly = app.synth();
  } catch (error) {
    return { templates: [], problems: [{ variant: name, text: `synth failed: ${String(error)}` }] };
  }
  if (process.exitCode !== exitCodeBefore) {
    problems.push({ variant: name, text: 'a validation plugin failed the synth (see its report above)' });
    process.exitCode = exitCodeBefore;
  }
  // CDK's own CloudFormation schema validation and cdk-nag: any violation, warning or error, is a
  // template CloudFormation or the checks refuse.
  const reportFile = join(outdir, 'validation-report.json');
  if (existsSync(reportFile)) {
    const json = JSON.parse(readFileSync(reportFile, 'utf8')) as { pluginReports?: PluginReport[] };
    for (const plugin of json.pluginReports ?? []) {
      for (const v of plugin.violations ?? []) {
        const where = (v.violatingConstructs ?? []).map((c) => c.constructPath).join(', ');
        problems.push({
          variant: name,
          text: `${plugin.pluginName} ${v.severity ?? ''} ${v.ruleName}: ${v.description} (${where})`,
        });
      }
    }
  }
  const expected = new Set(expectedWarnings);
  const seen = new Set<string>();
  for (const stack of assembly.stacks) {
    for (const message of stack.messages) {
      const text = String(message.entry.data);
      if (message.level === 'error')
        problems.push({ variant: name, text: `error at ${message.id}: ${text}` });
      if (message.level === 'warning') {
        const id = /\[ack: ([^\]]+)\]/.exec(text)?.[1] ?? text;
        seen.add(id);
        if (!expected.has(id))
          problems.push({ variant: name, text: `unexpected warning at ${message.id}: ${text}` });
      }
    }
  }
  for (const id of expected) {
    if (!seen.has(id))
      problems.push({ variant: name, text: `expected warning ${id} was not raised (update the docs)` });
  }
  // Example apps synthesize into a directory of their own: their templates are copied beside the others.
  const templates = assembly.stacks.map((s) => {
    const synthesized = join(outdir, s.templateFile);
    if (outdir === join(OUT, name) || !existsSync(synthesized)) return synthesized;
    mkdirSync(join(OUT, name), { recursive: true });
    copyFileSync(synthesized, join(OUT, name, s.templateFile));
    return join(OUT, name, s.templateFile);
  });
  for (const t of templates) if (!existsSync(t)) problems.push({ variant: name, text: `no template ${t}` });
  return { templates, problems };
}

const names =
  process.argv.slice(2).length > 0
    ? process.argv.slice(2)
    : [...Object.keys(DOCUMENTED_VARIANTS), ...Object.keys(EXAMPLE_APPS)];
const all: Finding[] = [];
const listing: string[] = [];
for (const name of names) {
  const { templates, problems } = await synthesize(name);
  all.push(...problems);
  for (const t of templates) listing.push(`${name}\t${t}`);
  console.error(`${problems.length === 0 ? 'ok  ' : 'FAIL'} ${name}: ${templates.length} template(s)`);
}
writeFileSync(join(OUT, 'templates.tsv'), `${listing.join('\n')}\n`);
for (const p of all) console.error(`  ${p.variant}: ${p.text}`);
if (all.length > 0) {
  console.error(`synth-variants: ${all.length} problem(s)`);
  process.exit(1);
}
console.error(`synth-variants: ${names.length} documented variants and example apps synthesized cleanly`);
