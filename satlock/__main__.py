from satlock.cli.entry import console

console()
