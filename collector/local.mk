# collector: sources are added here as modules land.
