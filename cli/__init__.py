"""The command line: parse arguments, call the lower layers, print results and errors."""
