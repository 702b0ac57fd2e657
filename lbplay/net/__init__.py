"""Real traffic on loopback: fake backends, the proxy, health checks and the Lab façade."""
