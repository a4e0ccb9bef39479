// SPDX-License-Identifier: MPL-2.0
// node-media-server 2.x (npm) as the harness runs it: RTMP on 127.0.0.1:PORT, no HTTP, errors
// only in the log. usage: node nms.js PORT   (NMS_DIR: where npm installed node-media-server)
"use strict";
const path = require("path");
const NodeMediaServer = require(path.join(process.env.NMS_DIR, "node_modules", "node-media-server"));
const port = Number(process.argv[2]);
// 2.x listens on every interface: keep it on loopback.
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (p, ...rest) {
  if (typeof p === "number") {
    return listen.call(this, p, "127.0.0.1", ...rest.filter((a) => typeof a === "function"));
  }
  return listen.apply(this, [p, ...rest]);
};
const nms = new NodeMediaServer({
  logType: 1, // errors only
  rtmp: { port, chunk_size: 60000, gop_cache: true, ping: 30, ping_timeout: 60 },
});
nms.run();
