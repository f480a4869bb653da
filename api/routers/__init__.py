"""HTTP routers: thin routes that parse, call the tenant application, and map the result."""
