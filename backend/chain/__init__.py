"""Everything that talks to the EVM: compiler pipeline, anvil supervision, deployment, contract calls."""
