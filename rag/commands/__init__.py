"""One module per `rag` sub-command: HELP, add_arguments(parser) and run(args)."""
