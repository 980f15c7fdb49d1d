#!/usr/bin/env node
// Prints a YAML file as JSON (YAML 1.2 core schema, the `yaml` package's default), so a test can
// compare the daemon's own conversion of control/openapi.yaml with an independent one.
//   node yaml-to-json.mjs file.yaml
// Exit 1 when the file cannot be read or parsed.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const file = process.argv[2];
try {
  process.stdout.write(JSON.stringify(parse(readFileSync(file, 'utf8'))) + '\n');
} catch (e) {
  console.error(`yaml-to-json: ${file}: ${e.message}`);
  process.exit(1);
}
