# config/: the configuration parser and the example configurations.
