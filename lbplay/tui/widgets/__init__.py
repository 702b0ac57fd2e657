"""The dashboard's widgets; each is told what to show and posts messages up."""
