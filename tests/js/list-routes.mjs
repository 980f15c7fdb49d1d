#!/usr/bin/env node
// Lists the (method, path) pairs of an OpenAPI document, one "METHOD /path" line each, sorted,
// so that a test can compare them with the daemon's router.
//   node list-routes.mjs [openapi.yaml] [--absolute] [--generic-params]
// Paths are relative to their server URL (the API prefix) unless --absolute, which prefixes each
// with its effective server URL (the path's own `servers`, else the document's first one).
// --generic-params prints every path parameter as "{}" so that parameter names do not matter.
// Exit 1 when the document cannot be read or has no paths.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const absolute = args.includes('--absolute');
const generic = args.includes('--generic-params');
const file = args.find((a) => !a.startsWith('--')) ?? resolve(here, '../../control/openapi.yaml');

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let doc;
try {
  doc = parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.error(`list-routes: cannot read ${file}: ${e.message}`);
  process.exit(1);
}
if (!doc || typeof doc.paths !== 'object' || doc.paths === null) {
  console.error(`list-routes: ${file} has no paths`);
  process.exit(1);
}

const join = (base, path) => (base.replace(/\/+$/, '') + path) || '/';
const rootServer = doc.servers?.[0]?.url ?? '';
const lines = [];
for (const [path, item] of Object.entries(doc.paths)) {
  let p = path;
  if (absolute) p = join(item.servers?.[0]?.url ?? rootServer, p);
  if (generic) p = p.replace(/\{[^}]*\}/g, '{}');
  for (const m of METHODS) {
    if (item[m]) lines.push(`${m.toUpperCase()} ${p}`);
  }
}
lines.sort();
process.stdout.write(lines.join('\n') + '\n');
