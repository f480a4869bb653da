"""OneRoster CSV bundles: import (bulk and delta) and export, from the CLI and over HTTP."""
