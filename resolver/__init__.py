"""Turn project requirements into a solution: project model, index client, CNF encoding, solve loop, lock file."""
