"""Grading: the batch (``grade``), its worker processes (``worker``), the hardened execute step
(``execute``), screening of student code (``screen``), the canary (``canary``) and the
feedback preprocessors (``preprocessors``)."""
