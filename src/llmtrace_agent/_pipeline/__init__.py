"""Private: where finished spans and metrics go: providers, span queue, processors, exporters."""
