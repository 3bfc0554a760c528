# alerts: sources are added here as modules land.
