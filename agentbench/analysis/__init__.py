"""Analysis of finished runs: paired comparison of runs (`agentbench compare`) and sweeps of config
factors (`agentbench sweep`). See README.md in this folder for which module owns what."""
