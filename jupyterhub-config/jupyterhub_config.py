"""JupyterHub for one class of the course on one machine (``make hub``; docs/hub.md).

- PAM logs in real Unix accounts (``python -m autograder hub users roster.csv``): nbgrader's
  exchange trusts file ownership, so a shared account cannot work.
- The LocalProcessSpawner starts each user's JupyterLab as that user, from the course venv.
  Students' servers get the exchange only; instructors' servers get the course folder and the
  formgrader too (``$HUB_ROOT/config/{student,instructor}``, made by ``hub setup``).
- The ``autograde`` service (run as root by the hub) grades each submission as it arrives and
  releases its feedback.
- The formgrader opens in a browser tab of its own, at /user/<instructor>/formgrader, not inside
  JupyterLab: JupyterHub >= 4.1 forbids framing single-user pages (CSP frame-ancestors 'none',
  nbgrader #1870). That rule stops one user's page from framing another's on this shared origin;
  we keep it rather than loosen it for every page of every server.

Settings from the environment: HUB_ROOT (default /srv/pixels-to-lenet), HUB_IP (127.0.0.1:
put TLS in front before opening it to a network), HUB_PORT (8000), HUB_API_PORT (8081),
HUB_PROXY_API_PORT (8001); HUB_ADMIN_TOKEN, if set, is the token of a ``course-admin`` service
that may manage users and servers (the tests and the capacity benchmark use it).
"""

import grp
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from autograder import settings  # noqa: E402
from autograder.hub.layout import INSTRUCTORS, STUDENTS, Layout  # noqa: E402

c = get_config()  # noqa: F821
layout = Layout()
venv_bin = REPO / ".venv" / "bin"

# --- network: the public port, the hub's API and the proxy's API, all on this machine by default
c.JupyterHub.bind_url = f"http://{os.environ.get('HUB_IP', '127.0.0.1')}:{os.environ.get('HUB_PORT', '8000')}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{os.environ.get('HUB_API_PORT', '8081')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('HUB_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]

# --- the hub's own state, root only
c.JupyterHub.db_url = f"sqlite:///{layout.hub / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(layout.hub / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(layout.hub / "proxy.pid")

# --- who may log in: the class's two groups (JupyterHub >= 5 lets nobody in otherwise)
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {STUDENTS, INSTRUCTORS}
c.PAMAuthenticator.open_sessions = False   # no systemd-logind sessions for servers the hub starts

# --- each user's JupyterLab, as that user, from the course venv
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(venv_bin / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {
    "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "FASHION_MNIST_NO_DOWNLOAD": "1",
}


def is_instructor(name: str) -> bool:
    try:
        return name in grp.getgrnam(INSTRUCTORS).gr_mem
    except KeyError:
        return False


def pre_spawn_hook(spawner):
    instructor = is_instructor(spawner.user.name)
    spawner.environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join(layout.config_path(instructor))
    if instructor:
        spawner.environment.update(layout.env())
        # nbgrader's formgrader works only on a course folder below the server's root folder.
        spawner.notebook_dir = str(layout.root)


c.Spawner.pre_spawn_hook = pre_spawn_hook

# --- autograde on submit, run by the hub as root (it grades in the sandbox)
service_env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), **layout.env()}
for key in (settings.DB_URL_ENV, settings.RETRY_ENV):
    if os.environ.get(key):
        service_env[key] = os.environ[key]
c.JupyterHub.services = [{
    "name": "autograde",
    "command": [str(venv_bin / "python"), "-m", "autograder", "hub", "service",
                "--jobs", os.environ.get("HUB_GRADING_JOBS", "1")],
    "cwd": str(REPO),
    "environment": service_env,
}]
c.JupyterHub.load_roles = []

if os.environ.get("HUB_ADMIN_TOKEN"):
    c.JupyterHub.services.append({"name": "course-admin", "api_token": os.environ["HUB_ADMIN_TOKEN"]})
    c.JupyterHub.load_roles.append({
        "name": "course-admin",
        "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "list:users", "read:users"],
        "services": ["course-admin"],
    })
