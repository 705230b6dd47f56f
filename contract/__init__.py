"""Wire models shared by the API, the web app and integrators. Imports nothing of ours."""
