// DPoP against a running authserver with oauth4webapi, an independent
// client and resource-server library (authserver/interop_dpop_test.go runs
// it). It reads ISSUER, PAT and CLIENT_ID from the environment and prints
// one JSON object of what it saw; any refusal it did not expect is thrown,
// and the process exits non-zero.
//
//   1. Discovery: the authorization server's metadata, and the management
//      API's RFC 9728 metadata, which must name that server.
//   2. Token exchange with a DPoP proof made by oauth4webapi's DPoP handle,
//      retried once on use_dpop_nonce as the library prescribes: the token
//      must be a DPoP token.
//   3. As a resource server: validateJwtAccessToken with requireDPoP checks
//      the token (signature through the JWKS, iss, aud, exp) and that its
//      cnf.jkt is the key of the proof oauth4webapi made for the request;
//      the same token with no proof, or with another key's proof, must be
//      refused.
//   4. The management API through protectedResourceRequest, which sends
//      Authorization: DPoP and a proof with ath (and the nonce, on retry).

import * as oauth from 'oauth4webapi'

const issuer = new URL(process.env.ISSUER)
const pat = process.env.PAT
const client = { client_id: process.env.CLIENT_ID }
const insecure = { [oauth.allowInsecureRequests]: true } // the test server is http on loopback
const out = { nonceRetries: 0 }

// 1. Discovery.
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
out.dpopAlgs = as.dpop_signing_alg_values_supported
const rs = await oauth.processResourceDiscoveryResponse(issuer, await oauth.resourceDiscoveryRequest(issuer, insecure))
out.resource = rs.resource
out.authorizationServers = rs.authorization_servers

const keyPair = await oauth.generateKeyPair('ES256')
const dpop = oauth.DPoP(client, keyPair)

// 2. Token exchange, DPoP-bound; once more on use_dpop_nonce.
async function exchange(audience) {
  const params = {
    subject_token: pat,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    audience,
  }
  const send = () => oauth.genericTokenEndpointRequest(as, client, oauth.None(),
    'urn:ietf:params:oauth:grant-type:token-exchange', params, { DPoP: dpop, ...insecure })
  try {
    return await oauth.processGenericTokenEndpointResponse(as, client, await send())
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    out.nonceRetries++
    return await oauth.processGenericTokenEndpointResponse(as, client, await send())
  }
}
const orchestrator = await exchange('orchestrator')
out.tokenType = orchestrator.token_type

// 3. A resource server's check. The request is made by oauth4webapi (its
// proof, with ath) and captured instead of sent.
async function requestAt(token, handle) {
  let captured
  const capture = async (url, init) => {
    captured = new Request(url, init)
    return new Response(null, { status: 204 })
  }
  await oauth.protectedResourceRequest(token, 'GET', new URL('https://orchestrator.example.com/jobs'), undefined, undefined,
    { DPoP: handle, [oauth.customFetch]: capture })
  return captured
}
const verified = await oauth.validateJwtAccessToken(as, await requestAt(orchestrator.access_token, dpop), 'orchestrator',
  { requireDPoP: true, ...insecure })
out.verifiedJkt = verified.cnf?.jkt
async function refused(request) {
  try {
    await oauth.validateJwtAccessToken(as, request, 'orchestrator', { requireDPoP: true, ...insecure })
    return false
  } catch {
    return true
  }
}
const noProof = await requestAt(orchestrator.access_token, undefined)
out.refusedWithoutProof = await refused(noProof)
const otherKey = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
out.refusedWithAnotherKey = await refused(await requestAt(orchestrator.access_token, otherKey))

// 4. The management API, with the DPoP-bound token for its audience.
const api = await exchange(issuer.href.replace(/\/$/, ''))
out.apiTokenType = api.token_type
const me = new URL(issuer.href.replace(/\/$/, '') + '/api/v1/me')
async function callAPI() {
  const send = () => oauth.protectedResourceRequest(api.access_token, 'GET', me, undefined, undefined, { DPoP: dpop, ...insecure })
  try {
    return await send()
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    out.nonceRetries++
    return await send()
  }
}
const resp = await callAPI()
out.apiStatus = resp.status
out.apiCredential = (await resp.json()).credential?.type

console.log(JSON.stringify(out))
