"""The domain: aggregates, their events, the application services that decide, and sealing."""
