// A hardhat 2.22 node as Hubao's test matrix (tests/chains) and the README's "Running on another
// chain" start it: chain id 31337, the development mnemonic anvil uses ("test test ... junk", the
// same ten accounts), every transaction mined at once and an empty block every second so that
// anchors get buried under HUBAO_CONFIRMATIONS. Start:
//   node_modules/.bin/hardhat --config tests/chains/hardhat.config.js node --hostname 127.0.0.1 --port 8545
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      accounts: { mnemonic: "test test test test test test test test test test test junk", count: 10 },
      mining: { auto: true, interval: 1000 },
    },
  },
  paths: { cache: process.env.HARDHAT_CACHE_DIR || "../../.data/hardhat-cache" },
};
