"""Authoring: solutions/ is the single source. ``release`` generates lessons/ from it (nbgrader
generate_assignment), ``runner`` executes notebooks the course's way, ``check`` runs a
notebook's visible tests."""
