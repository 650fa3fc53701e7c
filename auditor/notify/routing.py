"""Which destinations an alert goes to.

A Slack destination is `webhook:<ENV VAR NAME>` (an incoming webhook whose URL is in that
variable) or `channel:<#name or id>` (Web API with the bot token); a route may name any
channel's destination (`json-webhook:<ENV VAR NAME>`). Every matching route receives the
finding; `tag_channels` add the channel mapped from a resource tag; only when nothing matched
does the default destination get it. A route's own `min_severity` replaces the global one.
Subscriptions (a channel's own catch-all, e.g. `webhook:`) get every finding at or above
their floor, besides whatever Slack's routing chose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

from auditor.model import CollectionGap, Finding, Severity
from auditor.notify.alert import Destination, Subscription
from auditor.notify.channels import CHANNELS
from auditor.notify.slack import CHANNEL, FILE_WEBHOOK, WEBHOOK
from auditor.settings import SlackConfig, SlackRoute


def destination_of(spec: str) -> Destination:
    """A config value ("env:VAR", "#channel", "webhook:VAR", "channel:X", any channel's
    "kind:target") as a destination."""
    spec = spec.strip()
    if spec.startswith("env:"):
        return Destination(WEBHOOK, spec.removeprefix("env:"))
    parsed = Destination.parse(spec)
    return parsed if parsed.kind in CHANNELS else Destination(CHANNEL, spec)


def default_destination(slack: SlackConfig) -> Destination | None:
    """The catch-all destination: the default channel if a bot token is configured, else the
    webhook. None when neither is configured."""
    has_token = bool(slack.token_env or slack.token_file)
    if slack.default_channel and has_token:
        return destination_of(slack.default_channel)
    if slack.webhook_url_env:
        return Destination(WEBHOOK, slack.webhook_url_env)
    if slack.webhook_url_file is not None:
        return FILE_WEBHOOK
    return None


def configured_destinations(slack: SlackConfig) -> tuple[Destination, ...]:
    """Every destination the config names, default first, without duplicates."""
    out: list[Destination] = []
    default = default_destination(slack)
    if default is not None:
        out.append(default)
    out.extend(destination_of(route.destination) for route in slack.routes)
    for channels in slack.tag_channels.values():
        out.extend(destination_of(c) for c in channels.values())
    return tuple(dict.fromkeys(out))


def _route_matches(route: SlackRoute, finding: Finding, floor: Severity) -> bool:
    if not finding.severity.at_least(route.min_severity or floor):
        return False
    if route.rules and not any(fnmatchcase(finding.rule_id, g) for g in route.rules):
        return False
    if route.accounts and finding.resource.account not in route.accounts:
        return False
    return _tags_match(route.tag, finding.resource.tags)


def _tags_match(wanted: Mapping[str, str], tags: Mapping[str, str]) -> bool:
    return all(k in tags and fnmatchcase(tags[k], v) for k, v in wanted.items())


def route_finding(
    finding: Finding, slack: SlackConfig, also: Sequence[Subscription] = ()
) -> tuple[Destination, ...]:
    """The destinations of one finding; () when it is below every applicable severity floor."""
    out: list[Destination] = [
        destination_of(r.destination)
        for r in slack.routes
        if _route_matches(r, finding, slack.min_severity)
    ]
    if finding.severity.at_least(slack.min_severity):
        tags = finding.resource.tags
        for tag, channels in slack.tag_channels.items():
            if tag in tags and tags[tag] in channels:
                out.append(destination_of(channels[tags[tag]]))
        if not out:
            default = default_destination(slack)
            if default is not None:
                out.append(default)
    out.extend(s.destination for s in also if finding.severity.at_least(s.min_severity))
    return tuple(dict.fromkeys(out))


def route_gap(
    gap: CollectionGap, slack: SlackConfig, also: Sequence[Subscription] = ()
) -> tuple[Destination, ...]:
    """Coverage gaps ignore severity floors (not seeing is never fine): they go to the default
    destination, to every route that filters on nothing but the gap's account and to every
    subscription."""
    out: list[Destination] = []
    default = default_destination(slack)
    if default is not None:
        out.append(default)
    for r in slack.routes:
        if r.accounts and gap.account in r.accounts and not r.rules and not r.tag:
            out.append(destination_of(r.destination))
    out.extend(s.destination for s in also)
    return tuple(dict.fromkeys(out))


def catch_all(slack: SlackConfig, also: Sequence[Subscription] = ()) -> tuple[Destination, ...]:
    """Where an alert about no finding in particular goes: the default and every
    subscription."""
    default = default_destination(slack)
    first = (default,) if default is not None else ()
    return tuple(dict.fromkeys((*first, *(s.destination for s in also))))
