// Validate many glTF / GLB files with the Khronos glTF-Validator in one Node process.
//
// Used by tests/tilecheck.py (run_gltf_validator). Reads a JSON request on stdin:
//   {"files": ["/abs/a.glb", ...], "maxIssues": 0, "ignoredIssues": [], "severityOverrides": {}}
// and writes one JSON object on stdout:
//   {"validatorVersion": "...", "reports": {"/abs/a.glb": <validator report>, ...}}
// Files may be gzip-compressed on disk (magic 1f 8b) and may be b3dm containers: the embedded GLB
// is validated. A file the validator cannot even parse gets a synthetic report with one error.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { gunzipSync } from "node:zlib";

const require = createRequire(import.meta.url);
const validator = require("gltf-validator");

function readStdin() {
  return readFileSync(0, "utf8");
}

// Undo on-disk gzip and unwrap a b3dm container, returning the glTF / GLB bytes.
function gltfBytes(raw) {
  let data = raw;
  if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) {
    data = gunzipSync(data);
  }
  if (data.length >= 28 && data.toString("latin1", 0, 4) === "b3dm") {
    const ftJson = data.readUInt32LE(12);
    const ftBin = data.readUInt32LE(16);
    const btJson = data.readUInt32LE(20);
    const btBin = data.readUInt32LE(24);
    data = data.subarray(28 + ftJson + ftBin + btJson + btBin);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function failureReport(file, message) {
  return {
    uri: file,
    issues: {
      numErrors: 1,
      numWarnings: 0,
      numInfos: 0,
      numHints: 0,
      messages: [{ code: "VALIDATOR_EXCEPTION", message: String(message), severity: 0, pointer: "" }],
      truncated: false,
    },
  };
}

async function validateOne(file, options) {
  let bytes;
  try {
    bytes = gltfBytes(await readFile(file));
  } catch (err) {
    return failureReport(file, `cannot read file: ${err}`);
  }
  const dir = path.dirname(file);
  try {
    return await validator.validateBytes(bytes, {
      uri: file,
      writeTimestamp: false,
      maxIssues: options.maxIssues ?? 0,
      ignoredIssues: options.ignoredIssues ?? [],
      severityOverrides: options.severityOverrides ?? {},
      externalResourceFunction: (uri) => readFile(path.resolve(dir, decodeURIComponent(uri))),
    });
  } catch (err) {
    return failureReport(file, err);
  }
}

async function main() {
  const request = JSON.parse(readStdin());
  const reports = {};
  for (const file of request.files) {
    reports[file] = await validateOne(file, request);
  }
  process.stdout.write(JSON.stringify({ validatorVersion: validator.version(), reports }));
}

main().catch((err) => {
  process.stderr.write(`validate_gltf.mjs failed: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = 1;
});
