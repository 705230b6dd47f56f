// Recompiles TestUSDT.sol into TestUSDT.json (abi + creation bytecode) with npm `solc`
// (solc-js, offline). Run by `make contracts`; the JSON is committed so tests need no node.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const here = __dirname;
const source = fs.readFileSync(path.join(here, "TestUSDT.sol"), "utf8");
const input = {
  language: "Solidity",
  sources: { "TestUSDT.sol": { content: source } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    // Cancun: what mainnet and anvil both run; newer opcodes would tie the fixture to one node.
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const contract = output.contracts["TestUSDT.sol"].TestUSDT;
const fixture = {
  contract: "TestUSDT",
  compiler: "solc " + solc.version(),
  abi: contract.abi,
  bytecode: "0x" + contract.evm.bytecode.object,
  deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
};
fs.writeFileSync(path.join(here, "TestUSDT.json"), JSON.stringify(fixture, null, 2) + "\n");
console.log("wrote " + path.join(here, "TestUSDT.json"));
