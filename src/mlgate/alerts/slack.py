"""Slack incoming webhooks: a Block Kit message for an alert (pure), and its delivery.

The message is a header (the model, its version and what happened), a section of
fields (model, version, verdict, event and the alert's own facts), the reasons, and a
context line with the links and the repository. Block Kit's limits are kept here
(`HEADER_MAX`, `SECTION_TEXT_MAX`, `FIELDS_MAX`, `FIELD_TEXT_MAX`) by shortening text,
never by sending what Slack would refuse (`invalid_blocks`). Text is escaped as Slack's
mrkdwn asks (&, <, >), so a model name or a reason can never form a link or a mention.

A webhook answers 200 `ok`; any other answer is a failure (`invalid_blocks`,
`no_service`, `channel_is_archived`, ...), retried only on 429 and 5xx.
"""

from __future__ import annotations

from typing import Any

from mlgate.alerts._http import Reply, RetryPolicy, post_json
from mlgate.alerts.events import Alert

HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
FALLBACK_TEXT_MAX = 3000  # the notification text: Slack truncates long ones itself

VERDICT_MARKS = {
    "failed": ":x:",
    "drift": ":warning:",
    "degraded": ":rotating_light:",
    "refused": ":no_entry:",
    "forced": ":warning:",
    "rolled back": ":rewind:",
}


def message(alert: Alert) -> dict[str, Any]:
    """The webhook's JSON body for `alert`."""
    headline = alert.headline
    fields = [
        ("Model", alert.model),
        ("Version", f"v{alert.version}" if alert.version else "–"),
        ("Verdict", alert.verdict),
        ("Event", ", ".join(cause.value for cause in alert.causes)),
        *alert.detail,
    ][:FIELDS_MAX]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(_cut(headline, HEADER_MAX))},
        {
            "type": "section",
            "fields": [
                _mrkdwn(_fit(f"*{label}*\n", value, FIELD_TEXT_MAX)) for label, value in fields
            ],
        },
    ]
    if alert.reasons:
        blocks.append({"type": "section", "text": _mrkdwn(_reasons(alert.reasons))})
    context = [f"<{link.url}|{escape(link.text)}>" for link in alert.links if _linkable(link.url)]
    if alert.repository:
        context.append(escape(alert.repository))
    context.append("sent by mlgate")
    blocks.append(
        {
            "type": "context",
            "elements": [_mrkdwn(_cut(" · ".join(context), SECTION_TEXT_MAX))],
        }
    )
    mark = VERDICT_MARKS.get(alert.verdict, ":bell:")
    return {"text": _cut(f"{mark} {escape(headline)}", FALLBACK_TEXT_MAX), "blocks": blocks}


def send(webhook_url: str, body: dict[str, Any], policy: RetryPolicy | None = None) -> Reply:
    return post_json(webhook_url, body, policy)


def delivered(reply: Reply) -> bool:
    return reply.status == 200 and reply.body.strip() == "ok"


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: only &, < and > (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text or "-", "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text or "-"}


def _cut(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, marked when shortened."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit(prefix: str, raw: str, limit: int) -> str:
    """`prefix` and the escaped `raw` in `limit` characters; shortened before escaping, so
    that an entity like `&amp;` is never cut in half."""
    room = limit - len(prefix)
    text = escape(raw)
    while len(text) > room:
        raw = raw[: max(0, len(raw) - (len(text) - room) - 1)]
        text = escape(raw) + "…"
    return prefix + text


def _reasons(reasons: tuple[str, ...]) -> str:
    """The reasons as a bulleted list within a section's limit: `… and N more` if cut."""
    lines = ["*Why*"]
    used = len(lines[0])
    for index, reason in enumerate(reasons):
        line = _fit("• ", reason, 500)
        rest = len(reasons) - index
        tail = f"… and {rest} more"
        if used + 1 + len(line) + 1 + len(tail) > SECTION_TEXT_MAX and rest > 1:
            lines.append(tail)
            break
        lines.append(line)
        used += 1 + len(line)
    return _cut("\n".join(lines), SECTION_TEXT_MAX)


def _linkable(url: str) -> bool:
    # A link's URL goes inside <...|...>: it must not close the link or start another.
    return url.startswith(("https://", "http://")) and not any(c in url for c in "<>|")
