"""Serving the chat: on loopback by default; on any other address only behind a login
(``--auth-file``) or when told the network is trusted (``--no-auth``)."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from qa import Assistant
from ui.app import build_app
from ui.auth import Logins
from ui.feedback import default_feedback_path

logger = logging.getLogger(__name__)

LOGIN_MESSAGE = "دليل: سجّل الدخول باسم المستخدم وكلمة المرور."


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    index_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 7860,
    feedback_path: Path | None = None,
    auth_file: Path | None = None,
    no_auth: bool = False,
    ray: str | None = None,
) -> None:
    """Load the index at ``index_dir`` and serve the chat until interrupted. With
    ``auth_file`` (see :mod:`ui.auth`) every page and API call needs a login; binding to an
    address other than loopback without one is refused unless ``no_auth`` says so. (Analytics
    are off in the app itself; `daleel serve` also sets GRADIO_ANALYTICS_ENABLED before gradio
    is imported, which is where gradio reads it first.) ``ray``: search a sharded index's
    shards in Ray actors of that cluster (qa.shards)."""
    if auth_file is None and not is_loopback(host) and not no_auth:
        raise PermissionError(
            f"Refusing to serve the chat on {host} without a login: anyone who can reach this "
            "machine could use it. Add users with `daleel user add NAME` and pass --auth-file, "
            "or pass --no-auth if the network is trusted.")
    logins = Logins(auth_file) if auth_file is not None else None
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if auth_file is None and not is_loopback(host):
        logger.warning("Serving on %s WITHOUT a login (--no-auth): anyone who can reach "
                       "this machine can use the chat.", host)
    assistant = Assistant.load(index_dir, ray=ray)
    demo = build_app(assistant, feedback_path=feedback_path)
    logger.info("Feedback goes to %s", feedback_path or default_feedback_path())
    demo.launch(server_name=host, server_port=port, auth=logins, auth_message=LOGIN_MESSAGE)
