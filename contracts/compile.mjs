// Compiles contracts/src with solc-js (the exact version pinned in package.json) and writes
// one artifact per contract to contracts/artifacts/<Name>.json: {"abi", "bytecode":
// {"object"}, "deployedBytecode": {"object"}} (the Foundry layout, which alloy's `sol!`
// reads). The artifacts are committed, so building the Rust workspace needs no Node.
//
//   node compile.mjs           write the artifacts
//   node compile.mjs --check   exit 1 if any committed artifact differs from a fresh build
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = path.join(here, "src");
const artifactDir = path.join(here, "artifacts");
const check = process.argv.includes("--check");
// The contracts whose artifacts the Rust side uses.
const wanted = ["MVC", "MvcVesting", "RewardDistributor", "Anchor", "ConversionBridge"];

const sources = {};
for (const file of fs.readdirSync(sourceDir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[`src/${file}`] = { content: fs.readFileSync(path.join(sourceDir, file), "utf8") };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

function findImports(importPath) {
  const candidates = [path.join(here, "node_modules", importPath), path.join(here, importPath)];
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
  }
  return { error: `not found: ${importPath}` };
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
// Our own warnings and every error; OpenZeppelin's warnings are not ours to fix.
for (const message of output.errors || []) {
  const ours = (message.sourceLocation?.file || "src/").startsWith("src/");
  if (message.severity === "error" || ours) console.error(message.formattedMessage);
}
if (errors.length > 0) process.exit(1);

let stale = 0;
fs.mkdirSync(artifactDir, { recursive: true });
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, contract] of Object.entries(contracts)) {
    if (!wanted.includes(name) || file !== `src/${name}.sol`) continue;
    const artifact = {
      abi: contract.abi,
      bytecode: { object: `0x${contract.evm.bytecode.object}` },
      deployedBytecode: { object: `0x${contract.evm.deployedBytecode.object}` },
      compiler: `solc ${solc.version()}`,
    };
    const text = `${JSON.stringify(artifact, null, 2)}\n`;
    const target = path.join(artifactDir, `${name}.json`);
    if (check) {
      const committed = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : "";
      if (committed !== text) {
        console.error(`stale artifact: ${path.relative(here, target)} (run: npm run build)`);
        stale += 1;
      }
    } else {
      fs.writeFileSync(target, text);
      console.log(`wrote ${path.relative(here, target)} (${contract.evm.deployedBytecode.object.length / 2} bytes deployed)`);
    }
  }
}
process.exit(stale === 0 ? 0 : 1);
