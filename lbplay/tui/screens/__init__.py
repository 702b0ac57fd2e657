"""The dashboard and its modal screens (choosers, help, explain)."""
