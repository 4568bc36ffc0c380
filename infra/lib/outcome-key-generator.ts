/**
 * The source of the custom resource that generates the outcome signing key (outcome-signing.ts):
 * apart from the construct so that its unit test loads no CDK.
 */

/** How far ahead of its use a rotated key is added: more than the functions' 5-minute cache and clock skew. */
export const ROTATION_LEAD_SECONDS = 3600;

/**
 * The custom resource's handler (CommonJS, inline: a few lines with no dependency but the runtime's
 * AWS SDK). Create: a first key valid at once. Update with a new `Generation`: the newest key kept,
 * a new one valid from an hour later (two keys while clients and functions learn it). Otherwise the
 * key set is left as it is. Delete: nothing (the secret goes with its own removal policy).
 */
export const KEY_GENERATOR_SOURCE = `
const crypto = require('node:crypto');
const https = require('node:https');
const sm = require('@aws-sdk/client-secrets-manager');
const client = new sm.SecretsManagerClient({});
const LEAD = ${ROTATION_LEAD_SECONDS};
function newKey(generation, nbf) {
  const jwk = crypto.generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  const kid = 'g' + generation + '-' + crypto.randomBytes(4).toString('hex');
  return { kty: 'OKP', crv: 'Ed25519', kid, x: jwk.x, d: jwk.d, nbf };
}
async function currentKeys(secretId) {
  try {
    const out = await client.send(new sm.GetSecretValueCommand({ SecretId: secretId }));
    const keys = JSON.parse(out.SecretString || '').keys;
    return Array.isArray(keys) ? keys.slice().sort((a, b) => a.nbf - b.nbf) : [];
  } catch (e) {
    if (e instanceof SyntaxError) return []; // the placeholder the secret was created with
    throw e;
  }
}
async function apply(event) {
  if (event.RequestType === 'Delete') return {};
  const { SecretId, Generation } = event.ResourceProperties;
  const now = Math.floor(Date.now() / 1000);
  let keys = await currentKeys(SecretId);
  const rotate = event.RequestType === 'Update' && String(event.OldResourceProperties.Generation) !== String(Generation);
  if (keys.length === 0 || rotate) {
    keys = keys.length === 0 ? [newKey(Generation, now)] : [keys[keys.length - 1], newKey(Generation, now + LEAD)];
    await client.send(new sm.PutSecretValueCommand({ SecretId, SecretString: JSON.stringify({ keys }) }));
  }
  return { PublicKeys: keys.map((k) => k.kid + ':' + k.x).join(',') };
}
function respond(event, status, data, reason) {
  const body = JSON.stringify({
    Status: status, Reason: reason, PhysicalResourceId: event.PhysicalResourceId || 'outcome-signing-key',
    StackId: event.StackId, RequestId: event.RequestId, LogicalResourceId: event.LogicalResourceId, Data: data,
  });
  return new Promise((resolve, reject) => {
    const req = https.request(event.ResponseURL, { method: 'PUT', headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) } }, (res) => { res.resume(); res.on('end', resolve); });
    req.on('error', reject);
    req.end(body);
  });
}
exports.handler = async (event) => {
  let status = 'SUCCESS', data = {}, reason = '';
  try { data = await apply(event); } catch (e) { status = 'FAILED'; reason = String((e && e.message) || e); }
  await respond(event, status, data, reason);
};
`;
