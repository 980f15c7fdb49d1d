#!/usr/bin/env node
// Turns the Postman collection that openapi-to-postmanv2 made from control/openapi.yaml into
// the one newman-test.sh runs against a live simcored: the collection's own token request, then
// GET /things, /thingsgroups and /networks, each as generated, every response required to be 2xx.
//   node newman-collection.mjs converted.json out.json --origin http://127.0.0.1:PORT \
//        --client-id ID --client-secret SECRET
// Only what the converter cannot know is changed: where the daemon listens, the credentials, and
// how the token reaches the reads. Exit 1 when a request is missing from the collection.
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output, ...rest] = process.argv.slice(2);
const opt = (name) => {
  const i = rest.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= rest.length) {
    console.error(`newman-collection: --${name} is required`);
    process.exit(1);
  }
  return rest[i + 1];
};
const origin = opt('origin');
const clientId = opt('client-id');
const clientSecret = opt('client-secret');

const converted = JSON.parse(readFileSync(input, 'utf8'));
const requests = [];
const walk = (items) => {
  for (const it of items) {
    if (it.item) walk(it.item);
    else requests.push(it);
  }
};
walk(converted.item);
const find = (method, path) => {
  const it = requests.find((r) => r.request.method === method && r.request.url.path.join('/') === path);
  if (!it) {
    console.error(`newman-collection: the collection has no ${method} /${path}`);
    process.exit(1);
  }
  return it;
};
const script = (...exec) => [{ listen: 'test', script: { type: 'text/javascript', exec } }];

const token = find('POST', 'oauth/client_credential/accesstoken');
// The converter gives every request the document's first server ({{baseUrl}}, the API prefix)
// and ignores the path-level server `/` of the token endpoint, which lives at the origin.
token.request.url.host = ['{{origin}}'];
const form = Object.fromEntries(token.request.body.urlencoded.map((p) => [p.key, p]));
if (!form.client_id || !form.client_secret) {
  console.error('newman-collection: the token request has no client_id/client_secret form fields');
  process.exit(1);
}
form.client_id.value = '{{clientId}}';
form.client_secret.value = '{{clientSecret}}';
token.request.auth = { type: 'noauth' };
token.event = script(
  "const body = pm.response.json();",
  "pm.test('a bearer token', () => pm.expect(body.token_type).to.equal('Bearer'));",
  "pm.collectionVariables.set('accessToken', body.access_token);",
);

const reads = ['things', 'thingsgroups', 'networks'].map((p) => {
  const it = find('GET', p);
  it.event = script("pm.test('a JSON array', () => pm.expect(pm.response.json()).to.be.an('array'));");
  return it;
});

const baseUrl = converted.variable.find((v) => v.key === 'baseUrl');
const collection = {
  info: converted.info,
  item: [token, ...reads],
  // The document's oauth2 scheme cannot be fetched by newman; the token request above fills
  // the bearer token the reads inherit.
  auth: { type: 'bearer', bearer: [{ key: 'token', value: '{{accessToken}}', type: 'string' }] },
  event: script("pm.test('2xx', () => pm.expect(pm.response.code).to.be.within(200, 299));"),
  variable: [
    { key: 'origin', value: origin },
    { key: 'baseUrl', value: origin + (baseUrl ? baseUrl.value : '') },
    { key: 'clientId', value: clientId },
    { key: 'clientSecret', value: clientSecret },
    { key: 'accessToken', value: '' },
  ],
};
writeFileSync(output, JSON.stringify(collection, null, 1));
