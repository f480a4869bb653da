"""OneRoster 1.2 over HTTP: the rostering service, OAuth 2.0 client credentials, discovery
files and the OneRoster status-info error format on /ims paths."""
