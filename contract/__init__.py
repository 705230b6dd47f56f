"""Wire models shared by the API, the web app and integrators. Imports nothing of ours."""

# Every process imports contract early; this holds the interpreter's recursion limit at its
# default whatever the libraries imported later would set (see the module).
from contract import recursion_limit as recursion_limit
