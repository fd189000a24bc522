"""Running one evolution's work items across a Ray cluster of Docker hosts (`evolve.executor = ray`).

Ray is imported only inside functions here: it is an optional extra (pip install -e '.[ray]').
"""
