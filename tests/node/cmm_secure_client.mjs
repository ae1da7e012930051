// node-opcua against a secured edgetwin OPC UA server: each attempt prints one JSON line
// {"case", "ok", "error"?, "browse"?}. Usage: node cmm_secure_client.mjs URL USER PASSWORD
//   none_anonymous  security None, no user             -> refused
//   none_user       security None, the right user      -> refused (not on a secured channel)
//   secure_anonymous Basic256Sha256 SignAndEncrypt, no user -> refused
//   secure_wrong    SignAndEncrypt, a wrong password    -> refused
//   secure_user     SignAndEncrypt, the right user      -> browses CMM_01, reads Verdict
import {
  OPCUAClient, MessageSecurityMode, SecurityPolicy, UserTokenType, AttributeIds,
} from "node-opcua-client";

const [url, user, password] = process.argv.slice(2, 5);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");

async function attempt(name, mode, policy, identity) {
  const client = OPCUAClient.create({
    endpointMustExist: false,
    securityMode: mode,
    securityPolicy: policy,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    requestedSessionTimeout: 10000,
  });
  try {
    await client.connect(url);
    const session = await client.createSession(identity);
    try {
      const objects = await session.browse("ObjectsFolder");
      const cmm = objects.references.find((r) => r.browseName.name === "CMM_01");
      const children = await session.browse(cmm.nodeId);
      const names = children.references.map((r) => r.browseName.name).sort();
      const verdict = children.references.find((r) => r.browseName.name === "Verdict");
      const dv = await session.read({ nodeId: verdict.nodeId, attributeId: AttributeIds.Value });
      say({ case: name, ok: true, browse: names, verdict: dv.value.value });
    } finally {
      await session.close();
    }
  } catch (err) {
    say({ case: name, ok: false, error: String(err.message || err).split("\n")[0] });
  } finally {
    await client.disconnect();
  }
}

const anonymous = { type: UserTokenType.Anonymous };
const right = { type: UserTokenType.UserName, userName: user, password };
const wrong = { type: UserTokenType.UserName, userName: user, password: password + "x" };
const SE = MessageSecurityMode.SignAndEncrypt;
await attempt("none_anonymous", MessageSecurityMode.None, SecurityPolicy.None, anonymous);
await attempt("none_user", MessageSecurityMode.None, SecurityPolicy.None, right);
await attempt("secure_anonymous", SE, SecurityPolicy.Basic256Sha256, anonymous);
await attempt("secure_wrong", SE, SecurityPolicy.Basic256Sha256, wrong);
await attempt("secure_user", SE, SecurityPolicy.Basic256Sha256, right);
