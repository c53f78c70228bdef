"""A class on one JupyterHub: the machine's layout and permissions (layout), the students'
Unix accounts (accounts), releasing lessons into nbgrader's exchange (exchange) and the
service that grades each submission as it arrives (service)."""
