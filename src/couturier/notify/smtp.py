"""An email over SMTP (the standard library's :mod:`smtplib`).

The server is the installation's (settings ``notify.smtp``: host, port, STARTTLS, user and
password, sender); an action names only the recipients. With ``starttls`` the session is
upgraded before anything else is sent and the server's certificate is verified against the
system's trust store (:func:`ssl.create_default_context`) or the settings' ``ca_file``;
credentials are sent only after that (or when ``starttls`` is off and the operator chose so).

An attempt's status code is the SMTP reply code: ``250`` when the message was accepted, else
the code of the reply that refused it. A ``4xx`` reply (RFC 5321: a transient failure), a
timeout or a connection that fails can be retried; a ``5xx`` cannot.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from couturier.notify.outcome import Attempt
from couturier.settings import SmtpSettings

__all__ = ["send_email"]


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _reply(error: smtplib.SMTPResponseException) -> str:
    said = error.smtp_error
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return " ".join(text.split())[:200]


def _message(server: SmtpSettings, to: Sequence[str], subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = server.sender
    message["To"] = ", ".join(to)
    message["Subject"] = " ".join(subject.split())  # a header holds no line break
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=server.sender.rpartition("@")[2] or None)
    message.set_content(text)
    return message


def send_email(
    server: SmtpSettings, to: Sequence[str], subject: str, text: str, *, timeout: float
) -> Attempt:
    """Send one plain-text message to ``to``; every network step is bounded by ``timeout``."""
    started = time.monotonic()
    try:
        message = _message(server, to, subject, text)
        with smtplib.SMTP(server.host, server.port, timeout=timeout) as session:
            session.ehlo()
            if server.starttls:
                session.starttls(context=ssl.create_default_context(cafile=server.ca_file))
                session.ehlo()
            if server.username:
                session.login(server.username, server.password or "")
            session.send_message(message, from_addr=server.sender, to_addrs=list(to))
    except smtplib.SMTPRecipientsRefused as error:
        code, said = next(iter(error.recipients.values()))
        reply = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
        reason = f"the SMTP server refused the recipients: {code} {' '.join(reply.split())[:200]}"
        return Attempt(code, _ms(started), reason, retryable=400 <= code < 500)
    except smtplib.SMTPResponseException as error:
        code = error.smtp_code
        reason = f"the SMTP server refused: {code} {_reply(error)}"
        return Attempt(code, _ms(started), reason, retryable=400 <= code < 500)
    except TimeoutError:
        return Attempt(None, _ms(started), f"no SMTP answer within {timeout:g} s", retryable=True)
    except ValueError as error:  # a message the email package refuses to write
        reason = f"cannot write the message: {' '.join(str(error).split())[:200]}"
        return Attempt(None, _ms(started), reason)
    except (smtplib.SMTPException, OSError) as error:  # ssl.SSLError is an OSError
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        where = f"{server.host}:{server.port}"
        return Attempt(None, _ms(started), f"cannot send through {where}: {reason}", True)
    return Attempt(250, _ms(started))
