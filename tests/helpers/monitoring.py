"""Helpers of the monitoring tests: the rule files and dashboards, and the metric names they use (a
small PromQL tokenizer) or the bot exposes."""

from __future__ import annotations

import json
import re

import yaml

from tests.helpers.bot_harness import ROOT

MONITORING = ROOT / "monitoring"



RULES = sorted((MONITORING / "rules").glob("*.yml"))



RULE_TESTS = sorted((MONITORING / "tests").glob("*.yml"))



DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))



# Series Prometheus makes itself: from scraping (up, scrape_*) and from alerting (ALERTS*).
PROMETHEUS_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped",
                     "scrape_samples_post_metric_relabeling", "scrape_series_added"}



# The fields of the bot's JSON log lines (bot/logging.py; docs/bot.md, Logging) a log panel may filter on.
LOG_FIELDS = {"ts", "level", "logger", "message", "service", "version", "replica", "update_id", "user", "flow",
              "step", "handler", "outcome", "duration_ms", "exc", "source", "status", "reason", "count"}



# Series only a Kubernetes cluster has (the kubelet's volume statistics, in KbjuDiskAlmostFull and
# KbjuDiskFillingUp beside the node exporter's): no test here can scrape a kubelet.
KUBERNETES_SERIES = {"kubelet_volume_stats_available_bytes", "kubelet_volume_stats_capacity_bytes"}



_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')



_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")



_MODIFIER = re.compile(r"\b(?:offset\s+-?[\w$]+|@\s*[\w.()$]+)")



_TOKEN = re.compile(r"(?P<number>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+))"
                    r"|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)")



_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "inf", "nan"}



def metric_names(expr: str) -> set[str]:
    """Every metric name a PromQL expression selects (functions, keywords, labels and numbers left out)."""
    text = _STRING.sub('""', expr)
    if "__name__" in text:
        raise ValueError(f"selecting by __name__ hides the metric name from this check: {expr}")
    text = re.sub(r"\{[^{}]*\}", " ", text)        # label matchers
    text = re.sub(r"\[[^\[\]]*\]", " ", text)      # ranges and subqueries, Grafana's $__rate_interval
    text = _LABEL_LIST.sub(" ", text)
    text = _MODIFIER.sub(" ", text)
    names = set()
    for match in _TOKEN.finditer(text):
        name = match.group("name")
        if name is None or name.lower() in _KEYWORDS:
            continue
        if text[match.end():].lstrip().startswith("("):
            continue                                 # a function or an aggregation
        if match.start() > 0 and text[match.start() - 1] == "$":
            raise ValueError(f"a Grafana variable outside a range: {expr}")
        names.add(name)
    return names



def exposed_names(exposition: str) -> set[str]:
    """The series names a /metrics page can produce, from its # TYPE lines and its samples.

    A family with no sample yet (a labelled histogram nobody observed) still counts, with the
    names its type produces: histogram -> _bucket/_sum/_count, summary -> _sum/_count, so a
    query for `x_bucket` of a gauge `x`, or for a bare histogram name, is caught.
    """
    suffixes = {"histogram": ("_bucket", "_sum", "_count", "_created"), "summary": ("", "_sum", "_count", "_created"),
                "counter": ("",), "gauge": ("",), "untyped": ("",), "unknown": ("",), "info": ("",)}
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.update(name + s for s in suffixes.get(kind, ("",)))
        elif line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return names



def rule_exprs() -> dict[str, str]:
    """{alert or record name: expr} of every rule file."""
    exprs = {}
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                exprs[rule.get("alert") or rule["record"]] = rule["expr"]
    return exprs



def recorded_names() -> set[str]:
    """The series the recording rules make (kbju:...): used by alerts and panels, exposed by nobody."""
    return {rule["record"] for path in RULES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "record" in rule}



def dashboard_panels() -> list[tuple[str, dict]]:
    """(dashboard file name, panel) of every panel, rows' nested panels included."""
    out = []
    for path in DASHBOARDS:
        stack = list(json.loads(path.read_text())["panels"])
        while stack:
            panel = stack.pop()
            stack.extend(panel.get("panels", []))
            out.append((path.name, panel))
    return out



def _source(panel: dict, target: dict) -> str:
    return (target.get("datasource") or panel.get("datasource") or {}).get("type", "prometheus")


def dashboard_exprs() -> dict[str, str]:
    """{"board / panel / refId": PromQL} of every Prometheus target."""
    return {f"{name} / {panel['title']} / {target['refId']}": target["expr"]
            for name, panel in dashboard_panels() for target in panel.get("targets", [])
            if _source(panel, target) == "prometheus"}


def dashboard_logql() -> dict[str, str]:
    """{"board / panel / refId": LogQL} of every Loki target."""
    return {f"{name} / {panel['title']} / {target['refId']}": target["expr"]
            for name, panel in dashboard_panels() for target in panel.get("targets", [])
            if _source(panel, target) == "loki"}


def logql_fields(expr: str) -> set[str]:
    """The log line's fields a LogQL query filters on after `| json` (stream labels left out)."""
    _, _, pipeline = expr.partition("| json")
    return set(re.findall(r"\|\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=|>=|<=|>|<)", pipeline))


def logql_stream_labels(expr: str) -> dict[str, str]:
    selector = re.match(r"\s*\{([^}]*)\}", expr)
    assert selector, f"a LogQL query starts with a stream selector: {expr}"
    return dict(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"', selector.group(1)))



def all_used_names() -> dict[str, set[str]]:
    """{metric name: where it is used} over every rule and dashboard panel."""
    used: dict[str, set[str]] = {}
    for where, expr in {**rule_exprs(), **dashboard_exprs()}.items():
        for name in metric_names(expr):
            used.setdefault(name, set()).add(where)
    return used

