from satlock.cli.main import main

main()
