// An OPC UA client that is not asyncua: browses CMM_01 on an edgetwin server, reads the
// variables' data types and values, subscribes to Compensated_Length_mm and prints one JSON line
// per event: {"browse": {...}}, {"ready": true}, then {"value": n} for each new value until
// COUNT values came. Usage: node cmm_client.mjs URL COUNT
import {
  OPCUAClient, MessageSecurityMode, SecurityPolicy, AttributeIds, TimestampsToReturn, DataType,
} from "node-opcua-client";

const [url, count] = [process.argv[2], Number(process.argv[3])];
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const client = OPCUAClient.create({
  endpointMustExist: false,
  securityMode: MessageSecurityMode.None,
  securityPolicy: SecurityPolicy.None,
  connectionStrategy: { maxRetry: 3, initialDelay: 200, maxDelay: 1000 },
});
await client.connect(url);
const session = await client.createSession();
const ns = (await session.readNamespaceArray()).indexOf("urn:edgetwin:cmm");
const objects = await session.browse("ObjectsFolder");
const cmm = objects.references.find((r) => r.browseName.name === "CMM_01");
const children = await session.browse(cmm.nodeId);
const browse = {};
for (const ref of children.references) {
  const dt = await session.read({ nodeId: ref.nodeId, attributeId: AttributeIds.DataType });
  browse[ref.browseName.name] = DataType[dt.value.value.value];
}
say({ namespace: ns, browse });
const target = children.references.find((r) => r.browseName.name === "Compensated_Length_mm");
const sub = await session.createSubscription2({
  requestedPublishingInterval: 50, publishingEnabled: true, requestedMaxKeepAliveCount: 20,
});
const item = await sub.monitor(
  { nodeId: target.nodeId, attributeId: AttributeIds.Value },
  { samplingInterval: 0, discardOldest: true, queueSize: 10 },
  TimestampsToReturn.Both,
);
let seen = 0;
let last;
const done = new Promise((resolve) => {
  item.on("changed", (dv) => {
    const v = dv.value.value;
    if (dv.statusCode.isGood() && v !== last) {
      last = v;
      seen += 1;
      say({ value: v, source_ts: dv.sourceTimestamp?.toISOString() });
      if (seen >= count) resolve();
    }
  });
});
say({ ready: true });
await done;
await sub.terminate();
await session.close();
await client.disconnect();
