"""`dgm serve`: a run watched live in the browser, read-only, behind a token."""
