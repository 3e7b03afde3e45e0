from satlock.cli.entry import main

main()
