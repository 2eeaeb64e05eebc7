// The core client: no React, no runtime dependencies.
export * from "./protocol.js";
export * from "./client.js";
